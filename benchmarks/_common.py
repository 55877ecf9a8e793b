"""Helpers shared by the benchmark scripts: the shared data folder, cached catalogs, RSS, labels."""
from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from facesets.config import shared_dir

SHARED = shared_dir()
FACES = SHARED / "data" / "faces"
CACHE = Path(os.environ.get("FACESETS_BENCH_CACHE", Path.home() / ".cache" / "facesets-bench"))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cached_catalog(name: str, sources: list[Path], engine: str = "dlib", base: Path | None = None) -> Path:
    """A catalog of `sources` embedded once and kept in CACHE (embedding is incremental, so an
    existing cache is only topped up). A new one starts as a copy of catalog `base`, whose faces
    then keep their ids."""
    import shutil

    from facesets.catalog import Catalog
    from facesets.embed import embed
    from facesets.engines import EngineOptions

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.db"
    if base is not None and not path.exists():
        shutil.copyfile(base, path)
    with Catalog.open(path) as catalog:
        print(f"embedding {', '.join(map(str, sources))} into {path} (cached)", file=sys.stderr)
        embed(catalog, [str(s) for s in sources], engine_options=EngineOptions(engine=engine))
    return path


def bench_engine(name: str, models: Path):
    """dlib, or insightface on the test pack (the real SCRFD det_500m + a random recogniser built
    into `models`), on the CPU."""
    from facesets.engines import EngineOptions, load_engine

    if name == "insightface":
        from facesets.testing import build_test_pack
        build_test_pack(models, "buffalo_l")
        return load_engine(EngineOptions(engine="insightface", pack="buffalo_l", models=str(models),
                                         device="cpu", download=False))
    return load_engine(EngineOptions(engine="dlib"))


from facesets.cluster.labels import LFW_LABEL_FIXES, main_face_labels  # noqa: E402,F401
