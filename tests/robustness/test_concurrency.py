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
from rbhelp import has_command

PEOPLE = ["Ariel_Sharon", "Colin_Powell", "Donald_Rumsfeld", "George_W_Bush", "Gerhard_Schroeder"]


def _photos(root: Path, per_person: int) -> Path:
    root.mkdir(parents=True)
    for person in PEOPLE:
        for path in sorted((FACES / "lfw158" / person).glob("*.jpg"))[:per_person]:
            shutil.copy2(path, root / path.name)
    return root


def _embed(src: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facesets", "embed", str(src), "--catalog", str(db),
                             "--engine", "dlib", "-q", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_writer(db: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    lock = db.with_name(db.name + ".lock")
    deadline = time.monotonic() + timeout
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "embed never took the writer lock"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return _photos(tmp_path_factory.mktemp("concurrency") / "photos", 8)


def test_readers_and_short_writes_never_see_a_locked_database(photos, tmp_path):
    db = tmp_path / "c.db"
    writer = _embed(photos, db)
    _wait_for_writer(db, writer)
    reads = writes = 0
    errors, slowest = [], 0.0
    while writer.poll() is None:
        try:
            with Catalog.open(db, create=False) as cat:   # a fresh connection, as each web request has
                cat.counts()
                cat.face_embeddings()
                cat.errors()
                reads += 1
                started = time.monotonic()
                with cat.transaction():                    # what a rename in the web UI does
                    cat.set_meta("probe", str(writes))
                slowest = max(slowest, time.monotonic() - started)
                writes += 1
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))
        time.sleep(0.02)
    stdout, stderr = writer.communicate()
    print(f"\n{reads} reads and {writes} writes beside embed; slowest write waited {slowest:.3f}s")
    assert writer.returncode == 0, stderr
    assert errors == []
    assert "database is locked" not in stderr
    assert reads >= 5 and writes >= 5
    assert run_cli("doctor", "--catalog", db, check=False).returncode == 0


def test_a_second_embed_refuses_clearly(photos, tmp_path):
    db = tmp_path / "c.db"
    first = _embed(photos, db)
    _wait_for_writer(db, first)
    second = run_cli("embed", photos, "--catalog", db, "--engine", "dlib", "-q", check=False)
    assert first.poll() is None, "the first embed ended before the second one tried: the test proves nothing"
    out, err = first.communicate()
    assert second.returncode != 0
    assert "in use by another facesets process" in second.stderr and "embed" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert first.returncode == 0, err
    assert run_cli("doctor", "--catalog", db, check=False).returncode == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM files WHERE status = 'pending'").fetchone()[0] == 0
    conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_keeps_answering_while_embed_writes(photos, tmp_path):
    if not has_command("serve"):
        pytest.skip("pending: `facesets serve` does not exist yet")
    db = tmp_path / "c.db"
    first = sorted(photos.glob("*.jpg"))[:6]
    seed = tmp_path / "seed"
    seed.mkdir()
    for path in first:
        shutil.copy2(path, seed / path.name)
    run_cli("embed", seed, "--catalog", db, "--engine", "dlib", "-q")
    run_cli("cluster", "--catalog", db, "-q")
    conn = sqlite3.connect(db)
    person = conn.execute("SELECT MIN(person_id) FROM faces WHERE person_id IS NOT NULL").fetchone()[0]
    face = conn.execute("SELECT MIN(id) FROM faces").fetchone()[0]
    conn.close()
    assert person is not None and face is not None
    pages = ["", "unsorted", f"person/{person}", f"thumb/{face}", "settings", "export"]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "facesets", "serve", "--catalog", str(db), "--port", str(port), "--no-browser"],
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
        writer = _embed(photos, db)
        _wait_for_writer(db, writer)
        answered, failures, turn = 0, [], 0
        while writer.poll() is None:
            page = pages[turn % len(pages)]
            turn += 1
            try:
                with urllib.request.urlopen(url + page, timeout=30) as response:
                    response.read()
                    answered += 1
            except urllib.error.HTTPError as exc:
                failures.append(f"/{page}: {exc.code} {exc.read()[:200]!r}")
            time.sleep(0.05)
        _, stderr = writer.communicate()
        print(f"\n{answered} pages served while embed wrote")
        assert writer.returncode == 0, stderr
        assert failures == [] and answered >= len(pages)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            log = server.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            log = server.communicate()[0]
    assert "database is locked" not in log
