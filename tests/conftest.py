"""Shared fixtures: the ../shared data folder, a CLI runner, cached catalogs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facesets.config import shared_dir

SHARED = shared_dir()
PHOTOS = SHARED / "data" / "photos"
FACES = SHARED / "data" / "faces"


def pytest_configure(config):
    if not (SHARED / "data").is_dir():
        raise pytest.UsageError(f"shared data folder not found at {SHARED} (set FACESETS_SHARED)")


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


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
