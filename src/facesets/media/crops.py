"""Crop geometry, one rule for every room: the square an export cuts around a face, and the
face box such a square leaves inside a crop (what `--input aligned` and imports assume)."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

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


PNG_LEVEL = 1  # zlib's fastest, as roop-unleashed's own cv2.imencode writes: 4x faster than 6, files ~20% larger


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes with no timestamp or text chunks, so the same crop is the same file."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=PNG_LEVEL)
    return buffer.getvalue()


def crop_face_box(width: int, height: int, pad_ratio: float = CropSpec.pad_ratio,
                  headroom: float = HEADROOM) -> np.ndarray:
    """The face box (x1, y1, x2, y2) that `square_for` leaves in a crop."""
    side = min(width, height) / (1 + 2 * pad_ratio)
    cx, cy = width / 2, height / 2 + headroom * side
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)
