"""Aliases, incremental re-runs, broken files, crash safety and the writer lock."""
from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from pathlib import Path

import numpy as np

from conftest import FACES, PHOTOS, run_cli
from facesets.catalog import Catalog
from robustness.rbhelp import Paused


def _snapshot(db: Path) -> tuple[list, list]:
    with Catalog.open(db, readonly=True) as catalog:
        files = sorted((f.path, f.sha256, f.status, f.n_faces, f.width, f.height) for f in catalog.files.all())
        faces = sorted((f.path, f.face_index, *(round(v, 2) for v in f.box), f.embedding.tobytes())
                       for f in catalog.faces.all())
    return files, faces


def _last_run_stats(db: Path) -> dict:
    with Catalog.open(db, readonly=True) as catalog:
        return catalog.runs.last("embed").stats


def test_copies_become_aliases(tmp_path):
    src = tmp_path / "photos"
    for folder in ("a", "b", "c"):
        (src / folder).mkdir(parents=True)
        shutil.copy2(PHOTOS / "Tom_Hanks_54745.png", src / folder / "hanks.png")
    db = tmp_path / "c.db"
    run_cli("embed", src, "--catalog", db, "--engine", "dlib", "-q")
    status = json.loads(run_cli("status", "--catalog", db, "--json").stdout)
    assert status["files"] == 1 and status["aliases"] == 2 and status["faces"] == 1
    assert _last_run_stats(db)["decoded"] == 1


def test_second_run_opens_no_image(tmp_path):
    src = tmp_path / "photos"
    shutil.copytree(FACES / "face_recognition_examples" / "knn_examples", src)
    db = tmp_path / "c.db"
    run_cli("embed", src, "--catalog", db, "--engine", "dlib", "-q")
    first = _last_run_stats(db)
    before = _snapshot(db)
    run_cli("embed", src, "--catalog", db, "--engine", "dlib", "-q")
    second = _last_run_stats(db)
    assert first["decoded"] > 5
    assert second["decoded"] == 0 and second["files_new"] == 0
    assert _snapshot(db) == before
    # a changed file is re-read, and only that one
    target = sorted(src.rglob("*.jpg"))[0]
    os.utime(target, ns=(time.time_ns(), time.time_ns()))
    with open(target, "ab") as handle:
        handle.write(b"\0")
    run_cli("embed", src, "--catalog", db, "--engine", "dlib", "-q")
    assert _last_run_stats(db)["decoded"] == 1


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_broken_files_are_recorded_and_the_run_goes_on(tmp_path):
    src = tmp_path / "broken"
    src.mkdir()
    (src / "zero.jpg").write_bytes(b"")
    good = (PHOTOS / "t1.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (src / "text.jpg").write_text("this is not an image\n")
    (src / "bomb.png").write_bytes(_png_claiming(100000, 100000))
    shutil.copy2(PHOTOS / "Tom_Hanks_54745.png", src / "good.png")
    db = tmp_path / "c.db"
    proc = run_cli("embed", src, "--catalog", db, "--engine", "dlib", "-q")
    assert proc.returncode == 0
    listing = run_cli("status", "--catalog", db, "--errors").stdout
    reasons = {}
    for line in listing.splitlines():
        if "\t" in line:
            path, reason = line.split("\t", 1)
            reasons[Path(path).name] = reason
    assert reasons.keys() == {"zero.jpg", "truncated.jpg", "text.jpg", "bomb.png"}
    assert reasons["zero.jpg"] == "zero bytes"
    assert "truncated" in reasons["truncated.jpg"]
    assert "not an image" in reasons["text.jpg"]
    assert "pixel limit" in reasons["bomb.png"]
    status = json.loads(run_cli("status", "--catalog", db, "--json").stdout)
    assert status["faces"] == 1 and status["errors"] == 4


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    src = FACES / "five_celebrity" / "train"
    clean_db, killed_db = tmp_path / "clean.db", tmp_path / "killed.db"
    run_cli("embed", src, "--catalog", clean_db, "--engine", "dlib", "-q")
    # paused once 20 files are committed (a pause point, not a race against the machine's speed)
    paused = Paused(["embed", str(src), "--catalog", str(killed_db), "--engine", "dlib", "-q"], ["done:20"],
                    tmp_path / "pause")
    paused.wait_paused()
    paused.kill()
    with Catalog.open(killed_db, readonly=True) as catalog:
        counts = catalog.counts()
    assert counts["files"] - counts["pending"] >= 20
    partial_files, _ = _snapshot(killed_db)
    assert any(row[2] == "pending" for row in partial_files)
    run_cli("embed", src, "--catalog", killed_db, "--engine", "dlib", "-q")
    clean, resumed = _snapshot(clean_db), _snapshot(killed_db)
    assert clean[0] == resumed[0]
    assert [r[:6] for r in clean[1]] == [r[:6] for r in resumed[1]]
    for a, b in zip(clean[1], resumed[1]):
        assert np.allclose(np.frombuffer(a[6], np.float32), np.frombuffer(b[6], np.float32), atol=1e-6)


def test_second_writer_is_refused(tmp_path):
    from facesets import Catalog
    from facesets.catalog import CatalogBusy

    db = tmp_path / "c.db"
    with Catalog.open(db) as first:
        first.acquire_writer_lock("test")
        proc = run_cli("embed", PHOTOS / "t1.jpg", "--catalog", db, "--engine", "dlib", "-q", check=False)
        assert proc.returncode != 0
        assert "in use by another facesets process" in proc.stderr
        with Catalog.open(db) as second:
            try:
                second.acquire_writer_lock("again")
            except CatalogBusy:
                pass
            else:
                raise AssertionError("second writer lock was granted")
