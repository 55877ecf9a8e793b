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
from facesets.catalog import AssignedBy, Catalog, Person

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
    Catalog.open(db, create=False).close()   # the last connection to close folds the WAL in: a file copy is complete
    assert not Path(f"{db}-wal").exists()
    return db


def faces_by_identity(cat: Catalog) -> dict[str, list[int]]:
    """Face ids per identity folder, largest face of each photo only (lfw: the labelled one)."""
    out = defaultdict(list)
    firsts = sorted((cat.faces.first_of_file(file_id)[0], cat.files.get(file_id).path)
                    for file_id in set(cat.faces.file_of().values()))
    for face_id, path in firsts:
        out[lfw_identity(path)].append(face_id)
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
        people, by = cat.people, AssignedBy.CLUSTER
        with cat.transaction():
            sharon, powell, rums_a, rums_b, schroeder = (people.create() for _ in range(5))
            intruder = faces["Colin_Powell"][-1]
            people.assign(faces["Ariel_Sharon"] + [intruder], sharon, by)
            people.assign(faces["Colin_Powell"][:-1], powell, by)
            half = len(faces["Donald_Rumsfeld"]) // 2
            people.assign(faces["Donald_Rumsfeld"][:half], rums_a, by)
            people.assign(faces["Donald_Rumsfeld"][half:], rums_b, by)
            people.assign(faces["Gerhard_Schroeder"], schroeder, by)
    return {"db": db, "faces": faces, "intruder": intruder, "sharon": sharon, "powell": powell,
            "rums_a": rums_a, "rums_b": rums_b, "schroeder": schroeder}


# -- what the server stored, read back through a connection of the test's own --------------
def person(db, pid) -> Person | None:
    with Catalog.open(db, create=False) as cat:
        return cat.people.get(pid, with_count=True)


def place(db, face) -> tuple[int | None, str | None]:
    """(person, assigned by) of one face."""
    with Catalog.open(db, create=False) as cat:
        row, = cat.faces.assignments([], [face])
    return row["person_id"], row["assigned_by"]


def held(db, pid) -> set[int]:
    with Catalog.open(db, create=False) as cat:
        return set(cat.faces.ids_of_person(pid))


def excluded(db) -> set[tuple[int, int]]:
    """Every (face, person) the user ruled out."""
    with Catalog.open(db, create=False) as cat:
        return cat.people.exclusions()


def photo_of(db, face) -> int:
    with Catalog.open(db, create=False) as cat:
        return cat.faces.box(face).file_id


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


@pytest.fixture
def review_catalog(_small_embedded, tmp_path) -> dict:
    """A private catalog whose people were placed by the user (so none of their faces is a weak
    member) and whose first face of each identity, and Colin Powell's second, are in nobody and
    new to clustering: the review queue proposes each for its own person, all surer than 0.9."""
    db = tmp_path / "catalog.db"
    shutil.copyfile(_small_embedded, db)
    with Catalog.open(db) as cat:
        faces = faces_by_identity(cat)
        people, loose = {}, []
        with cat.transaction():
            for name, ids in sorted(faces.items()):
                people[name] = cat.people.create()
                keep = 2 if name == "Colin_Powell" else 1
                cat.people.assign(ids[keep:], people[name], AssignedBy.USER)
                loose += ids[:keep]
    return {"db": db, "faces": faces, "people": people, "loose": loose}
