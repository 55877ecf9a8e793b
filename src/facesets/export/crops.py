"""Square swap-ready crops, each re-detected so it holds exactly one face.

Face-swap tools average every face they find in a source PNG, so a crop with a bystander's
face poisons the identity: every crop is run through the catalog's own detector and dropped
(and logged) unless it finds exactly one face.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import workers as workers_mod
from ..scan.decode import read_image
from ..scan.paths import fs_path

HEADROOM = 0.12   # the square's centre sits this share of the face size above the face's centre


@dataclass(frozen=True)
class CropSpec:
    out_size: int = 512
    pad_ratio: float = 0.5


def square_for(box, width: int, height: int, spec: CropSpec) -> tuple[int, int, int, int]:
    """The square (x1, y1, x2, y2) around a face box: the face plus `pad_ratio` of its size on
    every side, lifted for head-room, shifted to stay inside the photo when it fits."""
    x1, y1, x2, y2 = box
    size = max(x2 - x1, y2 - y1)
    side = int(round(size * (1 + 2 * spec.pad_ratio)))
    cx = (x1 + x2) / 2
    cy = (y1 + y2) / 2 - HEADROOM * size
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    if side <= width:
        left = min(max(left, 0), width - side)
    if side <= height:
        top = min(max(top, 0), height - side)
    return left, top, left + side, top + side


def cut_square(rgb: np.ndarray, square, out_size: int) -> Image.Image:
    """The square cut out of `rgb` (black outside the photo), resized to out_size."""
    left, top, right, bottom = square
    h, w = rgb.shape[:2]
    side = right - left
    canvas = np.zeros((side, side, 3), np.uint8)
    sx1, sy1, sx2, sy2 = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    if sx2 > sx1 and sy2 > sy1:
        canvas[sy1 - top:sy2 - top, sx1 - left:sx2 - left] = rgb[sy1:sy2, sx1:sx2]
    return Image.fromarray(canvas).resize((out_size, out_size), Image.LANCZOS)


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes with no timestamp or text chunks, so the same crop is the same file."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def make_crops(picks, spec: CropSpec) -> dict[int, Image.Image | str]:
    """Face id -> crop image (or a one-line reason), decoding each photo once."""
    by_path: dict[str, list] = {}
    for pick in picks:
        by_path.setdefault(pick.path, []).append(pick)
    crops: dict[int, Image.Image | str] = {}
    for path, group in by_path.items():
        try:
            image = read_image(fs_path(path))
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
