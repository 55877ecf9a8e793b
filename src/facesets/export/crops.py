"""Square swap-ready crops, each re-detected so it holds exactly one face.

Face-swap tools average every face they find in a source PNG, so a crop with a bystander's
face poisons the identity: every crop is run through the catalog's own detector and dropped
(and logged) unless it finds exactly one face.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .. import workers as workers_mod
from ..media.crops import CropSpec, cut_square, png_bytes, square_for
from ..media.video import read_source
from ..media.paths import fs_path

__all__ = ["CropChecker", "CropSpec", "count_faces", "make_crops", "png_bytes"]


def make_crops(picks, spec: CropSpec) -> dict[int, Image.Image | str]:
    """Face id -> crop image (or a one-line reason), decoding each photo (or the video frame a
    pick's `frame` names) once."""
    by_source: dict[tuple, list] = {}
    for pick in picks:
        by_source.setdefault((pick.path, getattr(pick, "frame", None)), []).append(pick)
    crops: dict[int, Image.Image | str] = {}
    for (path, frame), group in by_source.items():
        try:
            image = read_source(fs_path(path), frame)
        except Exception as exc:  # the photo went away or broke since embed
            for pick in group:
                crops[pick.face_id] = f"unreadable photo: {exc}"
            continue
        for pick in group:
            square = square_for(pick.box, image.width, image.height, spec)
            crops[pick.face_id] = cut_square(image.rgb, square, spec.out_size)
    return crops


def count_faces(engine, image: Image.Image) -> int:
    """How many faces the engine's detector finds in a crop."""
    return len(engine.detect(np.asarray(image.convert("RGB"))))


def _count_png(data: bytes) -> int:
    return count_faces(workers_mod.engine(), Image.open(io.BytesIO(data)))


class CropChecker:
    """Counts faces in crops. dlib's detector holds the GIL, so with more than one core the
    crops are checked in worker processes (each with its own detector); ONNX engines thread
    inside one session and are checked in-process."""

    def __init__(self, make_engine, parallel: bool, workers: int | None = None):
        self.make_engine = make_engine
        self.workers = workers or min(workers_mod.default_workers(), 8)
        self.pool = None
        self.engine = None
        if parallel and self.workers > 1:
            self.pool = workers_mod.engine_pool(make_engine, self.workers)
        else:
            self.engine = make_engine()

    def counts(self, pngs: list[bytes]) -> list[int]:
        if self.pool is not None and len(pngs) > 1:
            return list(self.pool.map(_count_png, pngs, chunksize=4))
        if self.engine is None:
            self.engine = self.make_engine()
        return [count_faces(self.engine, Image.open(io.BytesIO(data))) for data in pngs]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def __enter__(self) -> "CropChecker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
