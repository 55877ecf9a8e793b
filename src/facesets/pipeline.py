"""`run`: the whole pipeline in one call, incremental when repeated on the same OUT.

embed -> cluster (first time) or extend (later: new faces fold into existing people, nobody
renumbered) -> refine (first time: refine's clustering and gates; later: gates only) ->
enrich -> export into OUT/facesets/. The catalog lives at OUT/library.db unless given.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import Catalog
from .engines import EngineOptions

if TYPE_CHECKING:
    pass

CATALOG_NAME = "library.db"
EXPORT_DIR = "facesets"


def run(sources, out: str | os.PathLike, catalog: Catalog | None = None,
        engine_options: EngineOptions | None = None, targets=("roop", "folders"), export_options: dict | None = None,
        progress=None, embed_options=None) -> dict:
    """Run every stage; returns each stage's stats. Re-running resumes or extends. The writer
    lock is held from the first stage to the last, so no other writer slips in between.
    `embed_options` (EmbedOptions): how embed runs, e.g. on a Dask cluster."""
    from .cluster import cluster, extend, refine
    from .embed import embed
    from .enrich import enrich
    from .export import export

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    own = catalog is None
    catalog = catalog or Catalog.open(out / CATALOG_NAME)
    try:
        with catalog.writer("run"):
            report: dict = {}
            result = embed(catalog, sources, engine_options=engine_options, options=embed_options, progress=progress)
            report["embed"] = {"files": result.files_scanned, "faces": result.faces, "errors": result.errors,
                               "no_face": result.no_face}
            if result.interrupted:
                raise KeyboardInterrupt
            # first time until cluster AND refine have both finished once: a run killed between
            # them (people written, refine's clustering not) must redo both, not extend
            first = catalog.runs.finished(("cluster", "refine")) != {"cluster", "refine"} or catalog.people.count() == 0
            if first:
                report["cluster"] = cluster(catalog, progress=progress)
            else:
                report["extend"] = extend(catalog, progress=progress)
            report["refine"] = refine(catalog, progress=progress, recluster=first)
            report["enrich"] = enrich(catalog, progress=progress)
            report["export"] = export(catalog, out / EXPORT_DIR, targets=targets, progress=progress,
                                      engine_options=engine_options if engine_options and engine_options.engine != "auto"
                                      else None, **(export_options or {}))
            return report
    finally:
        if own:
            catalog.close()
