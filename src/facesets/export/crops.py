"""Square swap-ready crops, each re-detected so it holds exactly one face.

Face-swap tools average every face they find in a source PNG, so a crop with a bystander's
face poisons the identity: every crop is run through the catalog's own detector and dropped
(and logged) unless it finds exactly one face.
"""
from __future__ import annotations

import hashlib
import io
import os

import numpy as np
from PIL import Image

from .. import workers as workers_mod
from ..media.crops import CropSpec, cut_square, png_bytes, square_for
from ..media.video import read_source
from ..media.paths import fs_path

__all__ = ["CropChecker", "CropSpec", "checked_counts", "checker_key", "count_faces", "make_crops", "png_bytes"]

POOL_FROM = 24  # an export of fewer crops checks them in-process: worker processes take ~1 s to start
CHECK_RULE = 1  # raise it when count_faces or the check's detector settings change: older counts no longer hold


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
    crops are checked in worker processes (each with its own detector, started on the first
    crops); ONNX engines thread inside one session and are checked in-process."""

    def __init__(self, make_engine, parallel: bool, workers: int | None = None):
        self.make_engine = make_engine
        self.workers = workers or min(workers_mod.default_workers(), 8)
        self.parallel = parallel and self.workers > 1
        self.pool = None
        self.engine = None

    def counts(self, pngs: list[bytes]) -> list[int]:
        if not pngs:
            return []
        if self.parallel and len(pngs) > 1:
            if self.pool is None:
                self.pool = workers_mod.engine_pool(self.make_engine, self.workers)
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


def checker_key(options) -> str:
    """Names the detector and rule behind a count (the EngineOptions of the checking engine:
    the catalog's engine, or one the caller named; "auto" names none)."""
    if options.engine not in ("dlib", "insightface"):
        raise ValueError(f"crop checks need a named engine, not {options.engine!r}")
    what = options.pack if options.engine == "insightface" else options.detector
    if options.engine == "dlib" and options.detector == "yunet" and options.yunet_model:
        what += ":" + os.path.basename(options.yunet_model)
    return f"{options.engine}/{what}/rule{CHECK_RULE}"


def checked_counts(catalog, checker: CropChecker, key: str, pngs: dict[int, bytes]) -> dict[int, int]:
    """Face id -> faces found in its crop. A crop the catalog has seen (the same PNG bytes, the
    same detector) keeps its count; only the others are re-detected, and remembered."""
    digests = {face: hashlib.sha256(data).hexdigest() for face, data in pngs.items()}
    known = catalog.exports.crop_faces(key, set(digests.values()))
    todo = {digest: pngs[face] for face, digest in digests.items() if digest not in known}
    fresh = dict(zip(todo, checker.counts(list(todo.values()))))
    if fresh:
        catalog.exports.add_crop_faces(key, fresh)
    return {face: known.get(digest, fresh.get(digest)) for face, digest in digests.items()}
