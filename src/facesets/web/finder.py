"""Find by photo: faces of an uploaded photo (detected and embedded with the catalog's own engine,
so distances are comparable) or of a catalog photo (its stored faces), kept in memory under a
random id for the few minutes a user looks at them."""
from __future__ import annotations

import os
import secrets
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from facesets.catalog import Catalog, NewFace
from facesets.media.decode import read_image
from facesets.web.images import rgb_jpeg

KEEP = 16  # uploaded photos remembered


@dataclass
class Query:
    id: str
    jpeg: bytes
    scale: float                # original pixels -> jpeg pixels
    width: int
    height: int
    boxes: list[list[float]]    # in jpeg pixels
    embeddings: np.ndarray      # (n, dim)
    face_ids: list[int | None]  # catalog face ids (catalog photos) else None


class Finder:
    def __init__(self):
        self._engine = None
        self._engine_lock = threading.Lock()
        self._queries: OrderedDict[str, Query] = OrderedDict()

    def get(self, query_id: str) -> Query | None:
        return self._queries.get(query_id)

    def _remember(self, query: Query) -> Query:
        self._queries[query.id] = query
        while len(self._queries) > KEEP:
            self._queries.popitem(last=False)
        return query

    def from_upload(self, catalog: Catalog, data: bytes, suffix: str = ".jpg") -> Query:
        """Detect and embed every face of an uploaded photo with the catalog's engine."""
        model = catalog.embedding_model()
        if model is None:
            raise ValueError("this catalog has no embeddings yet: run `facesets embed` first")
        fd, tmp = tempfile.mkstemp(suffix=suffix if suffix.isalnum() or suffix.startswith(".") else ".img")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            image = read_image(tmp)  # DecodeError (a ValueError-free one-liner) on junk
        finally:
            os.unlink(tmp)
        with self._engine_lock:
            engine = self._load(model.engine)
            detections = engine.detect(image.rgb)
            chips = [engine.align(image.rgb, d) for d in detections]
            matrix = engine.embed_chips(chips) if chips else np.zeros((0, model.dim), np.float32)
        if matrix.shape[1:] != (model.dim,):
            raise ValueError(f"engine gave {matrix.shape[1]}-d embeddings; the catalog holds {model.dim}-d")
        jpeg, scale = rgb_jpeg(image.rgb)
        boxes = [[float(v) * scale for v in d.box] for d in detections]
        return self._remember(Query(secrets.token_urlsafe(12), jpeg, scale, round(image.rgb.shape[1] * scale),
                                    round(image.rgb.shape[0] * scale), boxes, matrix, [None] * len(boxes)))

    def from_catalog(self, catalog: Catalog, file_id: int) -> Query | None:
        """A catalog photo with the faces already stored for it (no detection needed)."""
        photo = catalog.files.get(file_id)
        if photo is None:
            return None
        image = read_image(photo.path)
        faces = catalog.faces.of_file(file_id)
        jpeg, scale = rgb_jpeg(image.rgb, image.scale)
        boxes = [[v * scale for v in box] for _, box, _ in faces]
        matrix = np.stack([embedding for _, _, embedding in faces]) if faces else np.zeros((0, 1), np.float32)
        return self._remember(Query(secrets.token_urlsafe(12), jpeg, scale, round(image.width * scale),
                                    round(image.height * scale), boxes, matrix, [face_id for face_id, _, _ in faces]))

    def drawn_face(self, catalog: Catalog, file_id: int, box) -> int:
        """A face the user drew on a catalog photo (`box`: fractions of its upright width and
        height), found with the catalog's own engine (`embed.single.face_in_box`) and added to
        the catalog in nobody; returns its id."""
        from facesets.embed.regions import MATCH_IOU, overlap   # the engines' code: loaded when a face is drawn
        from facesets.embed.single import face_in_box

        model = catalog.embedding_model()
        photo = catalog.files.get(file_id)
        if model is None or photo is None or not photo.width or not photo.height:
            raise ValueError("that photo is not embedded in this catalog")
        x1, y1, x2, y2 = (min(1.0, max(0.0, float(v))) for v in box)
        pixels = [min(x1, x2) * photo.width, min(y1, y2) * photo.height, max(x1, x2) * photo.width,
                  max(y1, y2) * photo.height]
        with self._engine_lock:
            face = face_in_box(self._load(model.engine), photo.path, pixels)
        for known, box, _ in catalog.faces.of_file(photo.id):
            if overlap(box, face["box"]) >= MATCH_IOU:
                raise ValueError(f"that face is already in the catalog (face {known})")
        if face["embedding"].shape != (model.dim,):
            raise ValueError(f"engine gave {face['embedding'].shape[0]}-d embeddings; the catalog holds {model.dim}-d")
        return catalog.faces.add_drawn(photo.id, NewFace(face["box"], face["landmarks"], face["score"],
                                                         face["short_edge"], face["sharpness"], face["embedding"]),
                                       model_id=model.id, input_mode=photo.input_mode or "photos")

    def _load(self, engine_name: str):
        if self._engine is None or self._engine.engine != engine_name:
            from facesets.engines import EngineOptions, load_engine
            self._engine = load_engine(EngineOptions(engine=engine_name))
        return self._engine
