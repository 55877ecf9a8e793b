"""Shared fixtures: the ../shared data folder, a CLI runner, cached catalogs."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from facesets.config import shared_dir

SHARED = shared_dir()
PHOTOS = SHARED / "data" / "photos"
FACES = SHARED / "data" / "faces"


def pytest_configure(config):
    if not (SHARED / "data").is_dir():
        raise pytest.UsageError(f"shared data folder not found at {SHARED} (set FACESETS_SHARED)")


# The heaviest modules (seconds in a full run: 187, 123, 100, 88, 61, 49) go to the workers
# first, each whole (--dist loadscope, collection order kept by --no-loadscope-reorder), so the
# many short modules fill in around them and the two workers end together.
HEAVIEST_FIRST = ("test_export.py", "test_embed_cluster.py", "test_crash.py", "test_cluster.py", "test_import.py",
                  "test_curate_real_export.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: the rest keep their order


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


def run_cli(*args, check: bool = True, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m facesets ARGS` and return the completed process (text mode)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "facesets", *map(str, args)], capture_output=True,
                          text=True, env=full_env, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"facesets {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def test_models(tmp_path_factory) -> Path:
    """A models folder holding a buffalo_l-named pack: real SCRFD det_500m + random recogniser."""
    from facesets.testing import build_test_pack

    root = tmp_path_factory.mktemp("models")
    build_test_pack(root, "buffalo_l")
    return root


def file_rows(catalog) -> dict[str, dict]:
    """Catalog path -> the file record as a dict (through the files repository)."""
    return {f.path: asdict(f) for f in catalog.files.all()}


def face_rows(catalog) -> list[dict]:
    """Every face as a dict of its columns, with its photo's path, size and status, by face id."""
    files = {f.id: f for f in catalog.files.all()}
    rows = []
    for face in catalog.faces.all():
        photo = files[face.file_id]
        x1, y1, x2, y2 = face.box
        pitch, yaw, roll = face.pose
        rows.append({**asdict(face), **face.components, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                     "det_score": face.score, "pitch": pitch, "yaw": yaw, "roll": roll,
                     "embedding": face.embedding, "landmarks": face.landmarks, "landmarks_dense": face.landmarks_dense,
                     "width": photo.width, "height": photo.height, "status": photo.status, "n_faces": photo.n_faces})
    return rows


@contextlib.contextmanager
def notices_of_facesets():
    """The messages the library logs (the "facesets" logger) while the block runs."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = logging.getLogger("facesets")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- embedded catalogs, built once per test session -------------------------------------------
# Embedding lfw158 with dlib takes minutes, so it happens once per session; each test gets its
# own copy. FACESETS_TEST_CACHE (a folder) keeps them across sessions while developing.

def _cached_catalog(tmp_path_factory, name: str, sources: list[Path], engine_args: list[str]) -> Path:
    """Built by one process; with pytest-xdist the workers share it (their temp folders have a
    common parent) and the others wait on a lock while it is built."""
    import fcntl

    cache = os.environ.get("FACESETS_TEST_CACHE")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = Path(cache) if cache else base / "catalog-cache"
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.db"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            staging = root / f"{name}.{os.getpid()}.building.db"
            run_cli("embed", *sources, "--catalog", staging, *engine_args, "--quiet")
            for suffix in ("-wal", "-shm"):
                Path(str(staging) + suffix).unlink(missing_ok=True)
            os.replace(staging, path)
    return path


def _copy_catalog(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / "catalog.db"
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture(scope="session")
def _lfw158_dlib(tmp_path_factory) -> Path:
    return _cached_catalog(tmp_path_factory, "lfw158_dlib", [FACES / "lfw158"], ["--engine", "dlib"])


@pytest.fixture
def lfw158_catalog(_lfw158_dlib, tmp_path) -> Path:
    """A private copy of a dlib catalog of every lfw158 photo (158 identities, 2541 photos)."""
    return _copy_catalog(_lfw158_dlib, tmp_path)


def lfw_identity(path: str) -> str:
    """The labelled identity of an lfw photo: its folder name."""
    return Path(path).parent.name


def bench_module(name: str):
    """A script of benchmarks/ imported as a module (e.g. make_photos, the photo generator)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
