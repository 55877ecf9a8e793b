"""Generate a photo folder full of bad and odd input, and say what each item should become.

Every item is a `Kind`: a name, the path(s) it created, and what the catalog must end up
holding for it: `error` (listed by `status --errors` with a reason matching `reason`),
`face` (processed, at least one face found) or `noface` (processed, decoded, no face needed).
Some kinds need the test's help at run time (`vanish`: deleted between scan and decode;
`changed`: replaced between two runs; `unreadable`: a folder only root could list).
"""
from __future__ import annotations

import io
import os
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from facesets.config import shared_dir

FACES = shared_dir() / "data" / "faces" / "lfw158"
FACE_SOURCES = ["Colin_Powell/Colin_Powell_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg",
                "George_W_Bush/George_W_Bush_0002.jpg", "Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg"]
_T = Image.Transpose
# Pixels stored for EXIF orientation N are the upright picture put through the inverse of the
# transform a viewer applies, so every orientation displays the same upright face.
STORE_FOR_ORIENTATION = {2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE,
                         6: _T.ROTATE_90, 7: _T.TRANSVERSE, 8: _T.ROTATE_270}
NON_UTF8_NAME = b"caf\xe9_\xff_photo.jpg"
SIXTY_MP = (9000, 6700)


@dataclass
class Kind:
    name: str
    paths: list[Path]
    expect: str                  # error | face | noface
    reason: str = ""             # regex the recorded reason must match (errors)
    notes: dict = field(default_factory=dict)


def face_image(index: int = 0, size: int = 250) -> Image.Image:
    """A real single-face photo (LFW), upscaled so the face is comfortably detectable."""
    image = Image.open(FACES / FACE_SOURCES[index % len(FACE_SOURCES)]).convert("RGB")
    return image.resize((size, size), Image.LANCZOS) if size != image.width else image


def jpeg_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=kwargs.pop("quality", 90), **kwargs)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width` x `height` (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def corrupt_exif_jpeg(image: Image.Image) -> bytes:
    """A valid JPEG whose APP1 Exif segment is garbage (offsets pointing nowhere)."""
    data = jpeg_bytes(image)
    junk = b"Exif\x00\x00" + b"MM\x00\x2a" + b"\xff\xff\xff\xf0" + bytes(random.Random(1).randrange(256) for _ in range(200))
    segment = b"\xff\xe1" + (len(junk) + 2).to_bytes(2, "big") + junk
    return data[:2] + segment + data[2:]


def oriented_jpeg(image: Image.Image, orientation: int) -> bytes:
    stored = image.transpose(STORE_FOR_ORIENTATION[orientation]) if orientation in STORE_FOR_ORIENTATION else image
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0132] = "2019:07:14 10:20:30"
    return jpeg_bytes(stored, exif=exif.tobytes())


def sixty_megapixel_jpeg(face: Image.Image) -> bytes:
    """A mostly flat 60 MP photo (fast to encode) with one large face in it."""
    canvas = Image.new("RGB", SIXTY_MP, (118, 124, 131))
    big = face.resize((1600, 1600), Image.BILINEAR)
    canvas.paste(big, (3700, 2500))
    return jpeg_bytes(canvas, quality=70)


def build(root: Path) -> list[Kind]:
    """Write the corpus under `root` (created); return what each item must become."""
    root.mkdir(parents=True, exist_ok=True)
    kinds: list[Kind] = []

    def put(rel: str | bytes, data: bytes) -> Path:
        path = Path(os.fsdecode(os.path.join(os.fsencode(root), rel if isinstance(rel, bytes) else rel.encode())))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def add(name, rel, data, expect, reason=""):
        kinds.append(Kind(name, [put(rel, data)], expect, reason))

    face = face_image(0, 400)
    good = jpeg_bytes(face)
    # -- broken input: recorded with a reason, never stops the run --------------------------
    add("zero_bytes", "bad/zero.jpg", b"", "error", r"zero bytes")
    add("truncated_jpeg", "bad/truncated.jpg", good[: len(good) * 2 // 5], "error", r"truncated|corrupt")
    add("text_named_jpg", "bad/notes.jpg", b"Shopping list\nmilk\neggs\n" * 20, "error", r"not an image")
    add("png_decompression_bomb", "bad/bomb.png", png_claiming(100_000, 100_000), "error", r"pixel limit")
    add("garbage_after_jpeg_marker", "bad/garbage.jpg",
        b"\xff\xd8\xff\xe0" + bytes(random.Random(2).randrange(256) for _ in range(3000)), "error",
        r"corrupt|not an image|truncated|cannot decode")
    png = io.BytesIO()
    face.save(png, "PNG")
    raw = bytearray(png.getvalue())
    idat = raw.index(b"IDAT")
    raw[idat + 40: idat + 400] = bytes(360)  # zeroed compressed data: CRC and zlib stream break
    add("corrupt_png_data", "bad/corrupt.png", bytes(raw), "error", r"corrupt|truncated|cannot decode")
    heic = io.BytesIO()
    face.save(heic, "HEIF")
    add("truncated_heic", "bad/truncated.heic", heic.getvalue()[: len(heic.getvalue()) // 3], "error",
        r"corrupt|truncated|not an image|cannot decode")
    gif = io.BytesIO()
    face.convert("P").save(gif, "GIF")
    add("truncated_gif", "bad/truncated.gif", gif.getvalue()[: len(gif.getvalue()) // 4], "error",
        r"corrupt|truncated|cannot decode")

    loops = root / "links"
    (loops / "loop").mkdir(parents=True)
    os.symlink("..", loops / "loop" / "back")
    kinds.append(Kind("symlink_loop_folder", [loops / "loop" / "back"], "error", r"symlink loop"))
    os.symlink("loop_b.jpg", loops / "loop_a.jpg")
    os.symlink("loop_a.jpg", loops / "loop_b.jpg")
    kinds.append(Kind("symlink_loop_file", [loops / "loop_a.jpg", loops / "loop_b.jpg"], "error", r"symlink loop"))
    os.symlink("does_not_exist.jpg", loops / "dangling.jpg")
    kinds.append(Kind("broken_symlink", [loops / "dangling.jpg"], "error", r"broken symlink"))
    fifo = root / "bad" / "pipe.jpg"
    os.mkfifo(fifo)
    kinds.append(Kind("fifo_named_jpg", [fifo], "error", r"not a regular file"))
    locked = root / "locked"
    put("locked/inside.jpg", good)
    kinds.append(Kind("unreadable_folder", [locked], "error", r"unreadable folder", {"chmod": 0}))
    add("deleted_between_scan_and_decode", "bad/vanish.jpg", jpeg_bytes(face_image(1, 300)), "error", r"vanished")
    kinds[-1].notes["vanish"] = True

    # -- odd but good input: every one is decoded and processed --------------------------------
    add("corrupt_exif", "odd/corrupt_exif.jpg", corrupt_exif_jpeg(face_image(1, 400)), "face")
    add("cmyk_jpeg", "odd/cmyk.jpg", jpeg_bytes(face_image(2, 400).convert("CMYK")), "face")
    gray16 = (np.asarray(face_image(3, 400).convert("L"), np.uint16) * 257)
    buf = io.BytesIO()
    Image.fromarray(gray16).save(buf, "PNG")
    add("png_16bit_gray", "odd/gray16.png", buf.getvalue(), "face")
    import cv2
    rgb16 = np.asarray(face_image(0, 400), np.uint16)[:, :, ::-1] * 257
    ok, encoded = cv2.imencode(".png", rgb16)
    assert ok
    add("png_16bit_rgb", "odd/rgb16.png", encoded.tobytes(), "face")
    add("grayscale_jpeg", "odd/gray.jpg", jpeg_bytes(face_image(1, 400).convert("L")), "face")
    palette = face_image(2, 400).convert("P", palette=Image.ADAPTIVE, colors=255)
    buf = io.BytesIO()
    palette.save(buf, "PNG", transparency=0)
    add("palette_png_transparent", "odd/palette_alpha.png", buf.getvalue(), "face")
    alpha = np.asarray(face_image(3, 400).convert("RGBA")).copy()
    alpha[:40, :, 3] = 0  # a transparent band at the top
    buf = io.BytesIO()
    Image.fromarray(alpha, "RGBA").save(buf, "PNG")
    add("rgba_png", "odd/rgba.png", buf.getvalue(), "face")
    frames = [face_image(0, 400).convert("P"), Image.effect_noise((400, 400), 80).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    add("animated_gif", "odd/animated.gif", buf.getvalue(), "face")
    buf = io.BytesIO()
    face_image(1, 400).save(buf, "HEIF", quality=90)
    add("heic", "odd/photo.heic", buf.getvalue(), "face")
    buf = io.BytesIO()
    face_image(2, 400).save(buf, "WEBP", quality=90)
    add("webp", "odd/photo.webp", buf.getvalue(), "face")
    add("uppercase_extension", "odd/SHOUT.JPG", jpeg_bytes(face_image(3, 380)), "face")
    upright = face_image(0, 400).crop((0, 40, 400, 360))  # not square: orientation swaps the sides
    for orientation in range(1, 9):
        add(f"exif_orientation_{orientation}", f"orient/o{orientation}.jpg", oriented_jpeg(upright, orientation), "face")
        kinds[-1].notes["orientation"] = orientation
    add("exif_orientation_invalid", "orient/o99.jpg", oriented_jpeg(upright, 99), "face")
    hostile = Image.Exif()
    hostile[0x010E] = "../../../../tmp/escaped"       # ImageDescription
    hostile[0x013B] = "..\\..\\artist\x00name"       # Artist
    hostile[0x0132] = "../../2019:07:14 10:20:30"      # DateTime
    add("exif_hostile_strings", "odd/exif_hostile.jpg", jpeg_bytes(face_image(1, 390), exif=hostile.tobytes()), "face")
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(buf, "PNG")
    add("one_pixel", "odd/one_pixel.png", buf.getvalue(), "noface")
    add("sixty_megapixel", "odd/sixty_mp.jpg", sixty_megapixel_jpeg(face_image(1, 250)), "face")
    add("non_utf8_name", b"odd/" + NON_UTF8_NAME, jpeg_bytes(face_image(2, 400)), "face")
    add("changed_between_runs", "odd/changed.jpg", jpeg_bytes(face_image(3, 400)), "face")
    kinds[-1].notes["changed"] = True
    return kinds


def replacement_for_changed() -> bytes:
    """New content for `changed_between_runs` before the second run (a different person)."""
    return jpeg_bytes(face_image(0, 420))
