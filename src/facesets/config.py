"""Where things live: shared test data, model folders, the default limits.

Everything that reads an environment variable does it here, so the rest of the code
takes plain arguments.
"""
from __future__ import annotations

import os
from pathlib import Path

VERSION = "0.1.0"   # facesets.__version__, recorded in plans and manifests
MIN_FACE = 20       # px, original pixels: faces with a shorter box edge are not searched for (--min-face)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".3gp"})

# A decoded image above this many pixels is refused (a decompression bomb, or a panorama
# no face tool needs at full size). 60 MP photos pass; 100000x100000 does not.
MAX_PIXELS = int(os.environ.get("FACESETS_MAX_PIXELS", 250_000_000))


def shared_dir() -> Path:
    """The read-only data/model folder beside the project (tests and benchmarks only)."""
    env = os.environ.get("FACESETS_SHARED")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate.resolve()
    return (Path.cwd().parent / "shared").resolve()


def models_dirs(explicit: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for InsightFace packs, most specific first."""
    dirs: list[Path] = []
    if explicit:
        dirs.append(Path(explicit).expanduser())
    env = os.environ.get("FACESETS_MODELS")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path.home() / ".insightface" / "models")
    return dirs


def download_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where downloaded packs are stored: the first of `models_dirs`."""
    return models_dirs(explicit)[0]


def worker_crash_file_for_tests() -> str | None:
    """Tests only: the file name whose reading makes a cluster worker process die (no real file
    is known to crash the decoders). FACESETS_TEST_WORKER_CRASH, read by embed.dask_worker."""
    return os.environ.get("FACESETS_TEST_WORKER_CRASH") or None
