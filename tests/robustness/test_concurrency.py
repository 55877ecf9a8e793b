"""Issue 8: concurrent use. Readers (and the web UI's short writes) never see "database is
locked" while `embed` writes; a second `embed` on the same catalog refuses clearly."""
from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import FACES, run_cli
from facesets.catalog import Catalog
from rbhelp import Paused

PEOPLE = ["Ariel_Sharon", "Colin_Powell", "Donald_Rumsfeld", "George_W_Bush", "Gerhard_Schroeder"]


def _photos(root: Path, per_person: int) -> Path:
    root.mkdir(parents=True)
    for person in PEOPLE:
        for path in sorted((FACES / "lfw158" / person).glob("*.jpg"))[:per_person]:
            shutil.copy2(path, root / path.name)
    return root


BATCH_ENDS = ["done:1", "done:17", "done:33"]   # after each of embed's three 16-file batches


def _embed(src: Path, db: Path, points: list[str]) -> Paused:
    return Paused(["embed", str(src), "--catalog", str(db), "--engine", "dlib", "-q", "--workers", "1"], points,
                  db.with_name(db.name + ".pause"))


def _writer_holds_lock(db: Path) -> None:
    lock = db.with_name(db.name + ".lock")
    assert lock.exists() and lock.read_text().startswith("pid"), "embed does not hold the writer lock"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return _photos(tmp_path_factory.mktemp("concurrency") / "photos", 8)


def test_readers_and_short_writes_never_see_a_locked_database(photos, tmp_path):
    db = tmp_path / "c.db"
    writer = _embed(photos, db, BATCH_ENDS)
    reads = writes = 0
    errors, slowest = [], 0.0

    def read_and_write():
        nonlocal reads, writes, slowest
        try:
            with Catalog.open(db, create=False) as cat:   # a fresh connection, as each web request has
                cat.counts()
                cat.faces.embeddings()
                cat.errors()
                reads += 1
                started = time.monotonic()
                with cat.transaction():                    # what a rename in the web UI does
                    cat.set_meta("probe", str(writes))
                slowest = max(slowest, time.monotonic() - started)
                writes += 1
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))

    for _ in BATCH_ENDS:      # at each pause: embed holds the lock, its next batch is next
        writer.wait_paused()
        _writer_holds_lock(db)
        read_and_write()
        read_and_write()
        writer.resume()
    while writer.proc.poll() is None:   # and while it writes its last batch and finishes
        read_and_write()
        time.sleep(0.02)
    result = writer.finish()
    stderr = result.stderr
    print(f"\n{reads} reads and {writes} writes beside embed; slowest write waited {slowest:.3f}s")
    assert result.returncode == 0, stderr
    assert errors == []
    assert "database is locked" not in stderr
    assert reads >= 5 and writes >= 5
    assert run_cli("doctor", "--catalog", db, check=False).returncode == 0


def test_a_second_embed_refuses_clearly(photos, tmp_path):
    db = tmp_path / "c.db"
    first = _embed(photos, db, ["done:1"])
    first.wait_paused()   # mid-run: one batch committed, the writer lock held
    second = run_cli("embed", photos, "--catalog", db, "--engine", "dlib", "-q", check=False)
    first.resume()
    done = first.finish()
    assert second.returncode != 0
    assert "in use by another facesets process" in second.stderr and "embed" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert done.returncode == 0, done.stderr
    assert run_cli("doctor", "--catalog", db, check=False).returncode == 0
    with Catalog.open(db, readonly=True) as catalog:
        assert catalog.counts()["pending"] == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_keeps_answering_while_embed_writes(photos, tmp_path):
    db = tmp_path / "c.db"
    first = sorted(photos.glob("*.jpg"))[:6]
    seed = tmp_path / "seed"
    seed.mkdir()
    for path in first:
        shutil.copy2(path, seed / path.name)
    run_cli("embed", seed, "--catalog", db, "--engine", "dlib", "-q")
    run_cli("cluster", "--catalog", db, "-q")
    with Catalog.open(db, readonly=True) as catalog:
        faces = catalog.faces.all()
    person = min((f.person_id for f in faces if f.person_id is not None), default=None)
    face = min((f.id for f in faces), default=None)
    assert person is not None and face is not None
    pages = ["", "unsorted", f"person/{person}", f"thumb/{face}", "settings", "export"]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "facesets", "serve", "--catalog", str(db), "--port", str(port),
                               "--no-browser"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.3)
        writer = _embed(photos, db, ["done:1"])
        answered, failures = 0, []

        def visit(page):
            nonlocal answered
            try:
                with urllib.request.urlopen(url + page, timeout=30) as response:
                    response.read()
                    answered += 1
            except urllib.error.HTTPError as exc:
                failures.append(f"/{page}: {exc.code} {exc.read()[:200]!r}")

        writer.wait_paused()      # mid-run, the writer lock held: every page once
        _writer_holds_lock(db)
        for page in pages:
            visit(page)
        writer.resume()
        turn = 0
        while writer.proc.poll() is None:   # and while it writes
            visit(pages[turn % len(pages)])
            turn += 1
            time.sleep(0.05)
        result = writer.finish()
        print(f"\n{answered} pages served while embed wrote")
        assert result.returncode == 0, result.stderr
        assert failures == [] and answered >= len(pages)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            log = server.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            log = server.communicate()[0]
    assert "database is locked" not in log
