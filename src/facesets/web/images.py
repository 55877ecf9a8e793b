"""Images the web UI shows, always looked up by catalog id (never by a path from the request).

Face thumbnails are cut from the source photo once and cached beside the catalog
(`<catalog>.thumbs/<face_id>.jpg`), written to a temporary name and renamed so a half-written
file is never served. A cached thumbnail is served without touching the catalog (the grid
asks for sixty at once). Sources are only read.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

from facesets.catalog import Catalog
from facesets.media.decode import DecodeError, read_image

THUMB = 160          # long side of a face thumbnail, pixels
LARGE = 320          # the review queue's face, shown large
MARGIN = 0.35        # context around the face box, fraction of its size
PHOTO_MAX = 1280     # long side of a whole photo shown on the find page
PLACEHOLDER = (b'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160" viewBox="0 0 160 160">'
               b'<rect width="160" height="160" fill="#ddd"/><text x="80" y="86" font-size="14" '
               b'text-anchor="middle" fill="#777">no image</text></svg>')


def thumbs_dir(catalog_path: Path) -> Path:
    return catalog_path.with_name(catalog_path.name + ".thumbs")


def _thumb_name(face_id: int, size: int) -> str:
    return f"{int(face_id)}.jpg" if size == THUMB else f"{int(face_id)}_{int(size)}.jpg"


def cached_thumbnail(catalog_path: Path, face_id: int, size: int = THUMB) -> Path | None:
    path = thumbs_dir(catalog_path) / _thumb_name(face_id, size)
    return path if path.is_file() else None


def face_thumbnail(catalog: Catalog, face_id: int, size: int = THUMB) -> Path | None:
    """The cached JPEG of one face, `size` pixels on its long side (made on first request);
    None when the face or its photo is gone."""
    face = catalog.faces.box(face_id)
    if face is None:
        return None
    folder = thumbs_dir(catalog.path)
    target = folder / _thumb_name(face.id, size)
    if target.exists():
        return target
    box = face.box
    side = max(box[2] - box[0], box[3] - box[1])
    long_side = max(face.width or 0, face.height or 0)
    reduce_to = int(long_side * min(1.0, size * 2.0 / max(side, 1.0))) if long_side else None
    try:
        image = read_image(face.path, reduce_to=reduce_to or None)
    except DecodeError:
        return None
    crop = _crop(Image.fromarray(image.rgb), [v * image.scale for v in box])
    crop.thumbnail((size, size), Image.LANCZOS)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, _jpeg(crop))
    return target


def _crop(image: Image.Image, box: list[float]) -> Image.Image:
    """A square crop around the box with some context, clamped to the image."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (1 + 2 * MARGIN) / 2
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(image.width, int(cx + half)), min(image.height, int(cy + half))
    if right <= left or bottom <= top:
        return image
    return image.crop((left, top, right, bottom))


def photo_jpeg(catalog: Catalog, file_id: int) -> tuple[bytes, float] | None:
    """A whole catalog photo, downscaled, and the factor from original pixels to its pixels."""
    photo = catalog.files.get(file_id)
    if photo is None:
        return None
    try:
        image = read_image(photo.path, reduce_to=PHOTO_MAX)
    except DecodeError:
        return None
    return rgb_jpeg(image.rgb, image.scale)


def rgb_jpeg(rgb, scale: float = 1.0) -> tuple[bytes, float]:
    """JPEG bytes of an RGB array no longer than PHOTO_MAX, and its overall scale."""
    picture = Image.fromarray(rgb)
    factor = min(1.0, PHOTO_MAX / max(picture.size))
    if factor < 1.0:
        picture = picture.resize((max(1, int(picture.width * factor)), max(1, int(picture.height * factor))),
                                 Image.LANCZOS)
    return _jpeg(picture), scale * factor


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _write_atomic(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
