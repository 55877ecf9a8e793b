"""Decoder and path-storage guarantees, in process and fast."""
from __future__ import annotations

import os
import random
import sqlite3
import struct

import pytest
from PIL import Image

from facesets.media import DecodeError, read_image
from facesets.media.paths import catalog_path, fs_path


def test_any_file_name_is_storable_and_comes_back_byte_exact(tmp_path):
    rng = random.Random(8)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (path TEXT NOT NULL UNIQUE)")
    names = [b"plain.jpg", b"back\\slash.jpg", b"\\x41.jpg", b"caf\xc3\xa9.jpg", b"caf\xe9.jpg", b"\xff\xfe\\xff.jpg"]
    names += [bytes(rng.choice([*range(1, 47), *range(48, 256)]) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    for raw in names:
        path = os.fsdecode(b"/photos/" + raw)
        stored = catalog_path(path)
        stored.encode("utf-8")  # valid text, storable as SQLite TEXT
        conn.execute("INSERT OR IGNORE INTO t VALUES (?)", (stored,))
        back = conn.execute("SELECT path FROM t WHERE path = ?", (stored,)).fetchone()[0]
        assert os.fsencode(fs_path(back)) == b"/photos/" + raw
    valid = os.fsdecode(b"/photos/caf\xc3\xa9.jpg")
    assert catalog_path(valid) == valid  # ordinary paths are stored exactly as they are
    assert len({catalog_path(os.fsdecode(b"/p/" + n)) for n in set(names)}) == len(set(names))


def test_a_non_utf8_named_file_is_decoded_from_its_stored_path(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"\xe9t\xe9.png")
    Image.new("RGB", (20, 10), (1, 2, 3)).save(os.fsdecode(raw), "PNG")
    image = read_image(catalog_path(os.fsdecode(raw)))
    assert (image.width, image.height) == (20, 10)


@pytest.mark.parametrize("exc", [struct.error("unpack requires a buffer\nof 4 bytes"), IndexError("tuple index"),
                                 ZeroDivisionError(), RecursionError("deep")])
def test_any_decoder_failure_becomes_a_one_line_reason(tmp_path, monkeypatch, exc):
    path = tmp_path / "x.jpg"
    Image.new("RGB", (8, 8)).save(path, "JPEG")

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(Image, "open", broken)
    with pytest.raises(DecodeError) as info:
        read_image(path)
    reason = str(info.value)
    assert reason.startswith("cannot decode (") and "\n" not in reason and len(reason) <= 160


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(DecodeError, match="not a regular file"):
        read_image(fifo)


def test_outputs_materialise_a_file_from_its_stored_non_utf8_path(tmp_path):
    from facesets.outputs import materialise

    raw = os.path.join(os.fsencode(tmp_path), b"\xe9t\xe9.jpg")
    with open(raw, "wb") as handle:
        handle.write(b"bytes of a photo")
    for link in ("copy", "hardlink", "symlink"):
        target = tmp_path / "out" / f"{link}.jpg"
        materialise(catalog_path(os.fsdecode(raw)), target, link)
        assert target.read_bytes() == b"bytes of a photo"


def test_fast_full_jpeg_decode_agrees_with_pillow_on_good_and_damaged_files(tmp_path, capfd):
    """Full-resolution JPEGs are decoded by simplejpeg; the pixels, and what a damaged file
    gives (pixels or a reason), are Pillow's, and libjpeg prints nothing on stderr."""
    import numpy as np
    from PIL import ImageOps

    from facesets.media import decode

    rng = np.random.default_rng(3)
    good = tmp_path / "good.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(good, quality=90, exif=exif)
    data = good.read_bytes()
    n = len(data)
    damaged = {"zeroed": data[: n // 2] + bytes(2000) + data[n // 2 + 2000:],
               "scrambled": data[: n // 3] + rng.integers(0, 256, 200, dtype=np.uint8).tobytes() + data[n // 3 + 200:],
               "spliced": data[: n // 2] + data[-2:], "truncated": data[: n // 2]}
    files = {"good": good}
    for name, content in damaged.items():
        files[name] = tmp_path / f"{name}.jpg"
        files[name].write_bytes(content)

    def outcome(path):
        try:
            return read_image(path).rgb.tobytes()
        except DecodeError as exc:
            return str(exc)

    fast = {name: outcome(path) for name, path in files.items()}
    assert capfd.readouterr().err == ""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decode, "_full_jpeg", lambda im, handle: None)   # Pillow only
        pillow = {name: outcome(path) for name, path in files.items()}
    assert fast == pillow
    with Image.open(good) as im:
        assert fast["good"] == np.asarray(ImageOps.exif_transpose(im).convert("RGB")).tobytes()
    assert isinstance(fast["truncated"], str)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_pixels_map_onto_the_upright_image(tmp_path, orientation):
    """A decoded photo keeps its pixels as stored; `stored_to_upright` says where each lands
    in the upright image that `rgb` turns them into (Pillow's exif_transpose decides upright)."""
    import numpy as np
    from PIL import ImageOps

    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "p.png"  # lossless, so every pixel can be compared
    Image.fromarray(pixels).save(path, exif=exif)
    image = read_image(path)
    assert image.orientation == orientation and (image.stored == pixels).all()
    upright_shape = image.upright_shape
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    to_upright = image.stored_to_upright()
    for y, x in [(0, 0), (23, 39), (5, 31), (17, 2)]:
        ux, uy, _ = to_upright @ (x, y, 1)
        assert (expected[int(uy), int(ux)] == pixels[y, x]).all()
    assert (image.rgb == expected).all() and upright_shape == expected.shape[:2]
    assert (image.width, image.height) == (expected.shape[1], expected.shape[0])
