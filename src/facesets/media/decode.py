"""Decoding photos: every format we accept, EXIF orientation applied, bombs refused.

Failures raise `DecodeError` with a one-line reason that the catalog stores as is; no
file, however malformed, raises anything else. Paths may be given in the catalog's
stored form (see `media.paths`).
"""
from __future__ import annotations

import datetime as dt
import io
import os
import stat as statmod
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from facesets.config import MAX_PIXELS
from facesets.media.hashing import sha256_file
from facesets.media.paths import fs_path

try:  # HEIC/HEIF support is a hard dependency, but keep decoding alive without it
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover
    pillow_heif = None

Image.MAX_IMAGE_PIXELS = None  # we check the declared size ourselves, before decoding

EXIF_ORIENTATION = 0x0112
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_DATETIME = 0x0132
EXIF_IFD = 0x8769
REASON_MAX = 160  # characters of a recorded reason
TRANSPOSING = (5, 6, 7, 8)  # EXIF orientations that swap width and height


class DecodeError(Exception):
    """A file that cannot be used as an image; str() is the one-line reason."""

    def __init__(self, reason: str):
        super().__init__(one_line(reason))


def one_line(text: str, limit: int = REASON_MAX) -> str:
    """Whitespace collapsed, control characters dropped, at most `limit` characters."""
    text = " ".join(str(text).split())
    text = "".join(ch for ch in text if ch.isprintable())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class DecodedImage:
    stored: np.ndarray       # uint8 (h, w, 3) as stored in the file: `orientation` not yet applied
    width: int               # of the upright image at full resolution
    height: int
    scale: float             # pixels per original pixel (1.0 unless decoded reduced)
    taken_at: str | None
    orientation: int = 1     # EXIF orientation still to apply to `stored` (1: upright)
    prepared: object = None  # what an engine derived from the pixels ahead of time (FaceEngine.prepare)

    @property
    def rgb(self) -> np.ndarray:
        """The upright pixels. Rotated on first use only: turning 12 MP costs almost half of
        its decode, and an engine that needs only a small resize and a few chips (insightface) cuts
        both from `stored` through `stored_to_upright` and never asks for this."""
        if self.orientation != 1:
            self.stored, self.orientation = oriented_array(self.stored, self.orientation), 1
        return self.stored

    @property
    def upright_shape(self) -> tuple[int, int]:
        """(height, width) of `rgb`, without rotating anything."""
        h, w = self.stored.shape[:2]
        return (w, h) if self.orientation in TRANSPOSING else (h, w)

    def stored_to_upright(self) -> np.ndarray:
        """3x3 affine map from `stored` pixel coordinates to `rgb` pixel coordinates (pixel
        centres on integers, exactly what the rotations and flips of `rgb` do)."""
        h, w = self.stored.shape[0] - 1, self.stored.shape[1] - 1
        rows = {1: ((1, 0, 0), (0, 1, 0)), 2: ((-1, 0, w), (0, 1, 0)), 3: ((-1, 0, w), (0, -1, h)),
                4: ((1, 0, 0), (0, -1, h)), 5: ((0, 1, 0), (1, 0, 0)), 6: ((0, -1, h), (1, 0, 0)),
                7: ((0, -1, h), (-1, 0, w)), 8: ((0, 1, 0), (-1, 0, w))}[self.orientation]
        return np.array([*rows, (0, 0, 1)], np.float64)


def read_bytes(path: str | os.PathLike) -> bytes:
    """The whole file, read once (embed hashes these bytes and decodes them from memory), with
    the one-line reasons `read_image` gives."""
    path = readable_file(path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except MemoryError:
        raise DecodeError("too large to read in memory") from None
    except OSError as exc:
        raise _unreadable(exc) from None


def read_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file too large to hold in memory (a video), streamed, with the one-line
    reasons `read_bytes` gives."""
    path = readable_file(path)
    try:
        return sha256_file(path)
    except OSError as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: OSError) -> DecodeError:
    if isinstance(exc, FileNotFoundError):
        return DecodeError("file vanished before it could be read")
    return DecodeError(f"unreadable: {exc.strerror or exc}")


def readable_file(path: str | os.PathLike) -> str:
    """The file-system path of a catalog path, once it is known to be a non-empty regular file
    (else the DecodeError every decoder gives for it)."""
    path = fs_path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _unreadable(exc) from None
    if not statmod.S_ISREG(st.st_mode):
        raise DecodeError("not a regular file")
    if st.st_size == 0:
        raise DecodeError("zero bytes")
    return path


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS, reduce_to: int | None = None,
               data: bytes | None = None) -> DecodedImage:
    """Decode `path` to RGB, or `data` (the file's bytes, already read from `path`). `reduce_to`
    lets JPEG decode at a smaller scale (DCT draft) while keeping at least that long side;
    coordinates map back through `scale`."""
    if data is None:
        path = readable_file(path)
    elif not data:
        raise DecodeError("zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with (open(path, "rb") if data is None else io.BytesIO(data)) as handle, Image.open(handle) as im:
                return _decode(im, max_pixels, reduce_to, handle)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError("not an image (unrecognised format)") from None
    except FileNotFoundError:
        raise DecodeError("file vanished before it could be read") from None
    except PermissionError as exc:
        raise DecodeError(f"unreadable: {exc.strerror}") from None
    except MemoryError:
        raise DecodeError("too large to decode in memory") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in text.lower() or isinstance(exc, EOFError):
            raise DecodeError(f"truncated or corrupt image ({text})") from None
        raise DecodeError(f"corrupt image ({text})") from None
    except Exception as exc:  # noqa: BLE001 - a decoder bug on a malformed file must not stop a run
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise DecodeError(f"cannot decode ({type(exc).__name__}{': ' + text if text else ''})") from None


def _decode(im: Image.Image, max_pixels: int, reduce_to: int | None, handle=None) -> DecodedImage:
    width, height = im.size
    if width * height > max_pixels:
        raise DecodeError(f"over pixel limit ({width}x{height} > {max_pixels:,} pixels)")
    if width < 1 or height < 1:
        raise DecodeError("empty image")
    scale = 1.0
    if reduce_to and im.format == "JPEG" and max(width, height) > reduce_to:
        im.draft("RGB", _draft_box(width, height, reduce_to))
        scale = im.size[0] / width
    pixels = _full_jpeg(im, handle) if scale == 1.0 else None
    if pixels is None:
        im.load()  # the first frame of animations and multi-page files; before EXIF, whose
        # reading may load a PNG itself and swallow the error of a corrupt pixel stream
    exif = _safe_exif(im)
    orientation = exif.get(EXIF_ORIENTATION, 1) if exif else 1
    if orientation not in range(1, 9):
        orientation = 1
    taken_at = _taken_at(exif) if exif else None
    stored = _pixel_array(_to_rgb(im)) if pixels is None else pixels
    if orientation in TRANSPOSING:
        width, height = height, width
    if stored.ndim != 3 or stored.shape[2] != 3:
        raise DecodeError(f"unsupported pixel layout {stored.shape}")
    return DecodedImage(stored, width, height, scale, taken_at, orientation)


def _full_jpeg(im: Image.Image, handle) -> np.ndarray | None:
    """A whole YCbCr JPEG decoded by simplejpeg: libjpeg-turbo like Pillow, the same pixels, in
    half the time of Pillow's decode plus its array copy. Strict, so any libjpeg warning (corrupt
    or truncated data) gives None and Pillow decodes the file as before, deciding what is an error."""
    if handle is None or im.format != "JPEG" or im.mode != "RGB":
        return None
    try:
        import simplejpeg
    except ImportError:  # pragma: no cover - a hard dependency
        return None
    handle.seek(0)
    try:
        pixels = simplejpeg.decode_jpeg(handle.read(), colorspace="RGB", strict=True)
    except ValueError:
        return None
    return pixels if pixels.shape[:2] == (im.size[1], im.size[0]) else None


def _pixel_array(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image, dtype=np.uint8)
    image.close()
    return rgb


def oriented_array(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels as a contiguous uint8 array, EXIF orientation applied by OpenCV's blocked
    transposes (a numpy transpose of 12 MP costs as much as decoding it)."""
    import cv2

    if orientation in (5, 7):
        rgb = cv2.transpose(rgb)  # 5 is exactly the transpose; 7 adds a half turn
        if orientation == 7:
            rgb = cv2.flip(rgb, -1)
    elif orientation == 6:
        rgb = cv2.rotate(rgb, cv2.ROTATE_90_CLOCKWISE)
    elif orientation == 8:
        rgb = cv2.rotate(rgb, cv2.ROTATE_90_COUNTERCLOCKWISE)
    elif orientation in (2, 3, 4):
        rgb = cv2.flip(rgb, {2: 1, 3: -1, 4: 0}[orientation])
    return np.ascontiguousarray(rgb)


def _draft_box(width: int, height: int, reduce_to: int) -> tuple[int, int]:
    factor = reduce_to / max(width, height)
    return max(1, int(width * factor)), max(1, int(height * factor))


def _safe_exif(im: Image.Image) -> dict:
    try:
        exif = im.getexif()
        data = dict(exif)
        try:
            data.update(exif.get_ifd(EXIF_IFD))
        except Exception:  # noqa: BLE001 - corrupt sub-IFD: keep what we have
            pass
        return data
    except Exception:  # noqa: BLE001 - corrupt EXIF must never stop a decode
        return {}


def _taken_at(exif: dict) -> str | None:
    for tag in (EXIF_DATETIME_ORIGINAL, EXIF_DATETIME):
        raw = exif.get(tag)
        if isinstance(raw, bytes):
            raw = raw.decode("ascii", "replace")
        if isinstance(raw, str):
            try:
                return dt.datetime.strptime(raw.strip().strip("\x00")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
            except ValueError:
                continue
    return None


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / peak * 255.0, 0, 255).astype(np.uint8)).convert("RGB")
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        return im.convert("RGB")
    return im
