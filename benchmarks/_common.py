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


def cached_catalog(name: str, sources: list[Path], engine: str = "dlib") -> Path:
    """A catalog of `sources` embedded once and kept in CACHE (embedding is incremental, so an
    existing cache is only topped up)."""
    from facesets import Catalog, embed
    from facesets.engines import EngineOptions

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.db"
    with Catalog.open(path) as catalog:
        print(f"embedding {', '.join(map(str, sources))} into {path} (cached)", file=sys.stderr)
        embed(catalog, [str(s) for s in sources], engine_options=EngineOptions(engine=engine))
    return path


def main_face_labels(catalog) -> tuple[list[int], list[str]]:
    """(face ids, identity labels) for an LFW-style catalog: the face nearest the photo's centre
    carries the folder's identity; any other face in the photo is an unknown bystander and gets
    a label of its own."""
    rows = catalog.conn.execute(
        "SELECT faces.id, faces.file_id, files.path, files.width, files.height, "
        "(faces.x1 + faces.x2) / 2 AS cx, (faces.y1 + faces.y2) / 2 AS cy "
        "FROM faces JOIN files ON files.id = faces.file_id ORDER BY faces.id").fetchall()
    best: dict[int, tuple[float, int]] = {}
    for r in rows:
        off = (r["cx"] - r["width"] / 2) ** 2 + (r["cy"] - r["height"] / 2) ** 2
        if r["file_id"] not in best or off < best[r["file_id"]][0]:
            best[r["file_id"]] = (off, r["id"])
    main = {face_id for _, face_id in best.values()}
    ids, labels = [], []
    for r in rows:
        ids.append(r["id"])
        labels.append(Path(r["path"]).parent.name if r["id"] in main else f"bystander:{r['id']}")
    return ids, labels
