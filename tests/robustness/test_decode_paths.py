"""Decoder and path-storage guarantees, in process and fast."""
from __future__ import annotations

import os
import random
import sqlite3
import struct

import pytest
from PIL import Image

from facesets.scan import DecodeError, read_image
from facesets.scan.paths import catalog_path, fs_path


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
