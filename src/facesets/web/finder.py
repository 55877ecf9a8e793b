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

from facesets.catalog import Catalog
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

    def _load(self, engine_name: str):
        if self._engine is None or self._engine.engine != engine_name:
            from facesets.engines import EngineOptions, load_engine
            self._engine = load_engine(EngineOptions(engine=engine_name))
        return self._engine
