"""Helpers for the web UI tests (imported by the test modules, not a conftest, so the root
conftest stays the only module named `conftest`): a small real catalog (dlib embeddings of a few lfw158
identities, people made per identity folder) and a server running on a free port."""
from __future__ import annotations

import shutil
import socket
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import FACES, lfw_identity, run_cli
from facesets import people as P
from facesets.catalog import Catalog

IDENTITIES = ["Ariel_Sharon", "Colin_Powell", "Donald_Rumsfeld", "Gerhard_Schroeder"]
PER_IDENTITY = 6


@pytest.fixture(scope="session")
def _small_embedded(tmp_path_factory) -> Path:
    """Embedded once per session: PER_IDENTITY photos of each identity, one folder each."""
    root = tmp_path_factory.mktemp("web-src")
    src = root / "photos"
    for name in IDENTITIES:
        (src / name).mkdir(parents=True)
        for path in sorted((FACES / "lfw158" / name).glob("*.jpg"))[:PER_IDENTITY]:
            shutil.copy2(path, src / name / path.name)
    db = root / "embedded.db"
    run_cli("embed", src, "--catalog", db, "--engine", "dlib", "-q")
    with Catalog.open(db) as cat:   # fold the WAL in so a plain file copy is complete
        cat.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def faces_by_identity(cat: Catalog) -> dict[str, list[int]]:
    """Face ids per identity folder, largest face of each photo only (lfw: the labelled one)."""
    out = defaultdict(list)
    for row in cat.conn.execute("SELECT faces.id, files.path FROM faces JOIN files ON files.id = faces.file_id "
                                "WHERE faces.face_index = 0 ORDER BY faces.id"):
        out[lfw_identity(row["path"])].append(row["id"])
    return dict(out)


@pytest.fixture
def small_catalog(_small_embedded, tmp_path) -> dict:
    """A private catalog with people as a clustering could leave them, and their faces:
    - Ariel_Sharon holds one wrong face (Colin Powell's last), to be removed;
    - Donald_Rumsfeld is over-split into two people, to be merged;
    - Gerhard_Schroeder is whole (split tests cut it)."""
    db = tmp_path / "catalog.db"
    shutil.copyfile(_small_embedded, db)
    with Catalog.open(db) as cat:
        faces = faces_by_identity(cat)
        with cat.transaction() as conn:
            sharon = P.create_person(conn)
            powell = P.create_person(conn)
            rums_a = P.create_person(conn)
            rums_b = P.create_person(conn)
            schroeder = P.create_person(conn)
            intruder = faces["Colin_Powell"][-1]
            P.assign_faces(conn, faces["Ariel_Sharon"] + [intruder], sharon, "cluster")
            P.assign_faces(conn, faces["Colin_Powell"][:-1], powell, "cluster")
            half = len(faces["Donald_Rumsfeld"]) // 2
            P.assign_faces(conn, faces["Donald_Rumsfeld"][:half], rums_a, "cluster")
            P.assign_faces(conn, faces["Donald_Rumsfeld"][half:], rums_b, "cluster")
            P.assign_faces(conn, faces["Gerhard_Schroeder"], schroeder, "cluster")
    return {"db": db, "faces": faces, "intruder": intruder, "sharon": sharon, "powell": powell,
            "rums_a": rums_a, "rums_b": rums_b, "schroeder": schroeder}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving create_app(catalog) in a thread, as `facesets serve` does."""

    def __init__(self, db: Path, port: int | None = None):
        import uvicorn

        from facesets.web import create_app

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(db, allowed_hosts=["127.0.0.1", "localhost"])
        self.token = self.app.state.web.token
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.app.state.web.jobs.wait(120)
        self.server.should_exit = True
        self.thread.join(30)
