"""Crops as input: `facesets import` (roop .fsz bundles and folders of face crops)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from facesets.catalog import CatalogError
from facesets.cli.main import (CatalogOpt, DetectorOpt, DeviceOpt, EngineOpt, ModelsOpt, PackOpt, app,
                               engine_options, open_catalog)
from facesets.cli.ui import fail, out, progress_bars
from facesets.engines import EngineUnavailable


@app.command("import")
def import_(
    sources: List[Path] = typer.Argument(..., help="roop .fsz bundles, faceset folders (faceset_NNN/, any folder "
                                         "of crops, with or without manifest.json), or folders holding them."),
    catalog: Path = CatalogOpt,
    engine: str = EngineOpt, pack: str = PackOpt, models: Optional[Path] = ModelsOpt,
    device: str = DeviceOpt, detector: str = DetectorOpt,
    threads: Optional[int] = typer.Option(None, help="onnxruntime threads per model (default: cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Import existing face sets: one imported person per bundle or folder.

    Bundles are checked (names, sizes, member count, links) before anything is extracted, into
    <catalog stem>_imports/ beside the catalog; sources are only read. Re-running changes nothing."""
    from facesets.importer import ImportRefused, import_sources

    with open_catalog(catalog) as cat:
        try:
            with progress_bars(not quiet) as hook:
                result = import_sources(cat, sources, engine_options=engine_options(
                    engine, pack, models, device, detector, None, threads), progress=hook)
        except ImportRefused as exc:
            fail(escape(f"import refused: {exc}"))   # member names are the bundle author's text
        except (CatalogError, EngineUnavailable, ValueError) as exc:
            fail(escape(str(exc)))
    for person in result.people:
        out.print(f"person {person['person_id']:4d}  {person['assigned']:5d}/{person['crops']:<5d} crops  "
                  f"{person['label']}  ({person['source']})", highlight=False, markup=False)
    out.print(f"sources {result.sources}, crops {result.crops}, assigned {result.assigned}, "
              f"no face {result.no_face}, several faces {result.multi_face}, kept elsewhere {result.kept_elsewhere}",
              highlight=False, markup=False)
