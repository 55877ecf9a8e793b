"""`facesets enrich`: dense landmarks, head pose and quality of the faces of people."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from facesets.catalog import CatalogBusy, CatalogError
from facesets.cli.main import app, open_catalog
from facesets.cli.ui import fail, notice, out, progress_bars
from facesets.engines import EngineUnavailable


@app.command()
def enrich(
    catalog: Path = typer.Option(..., "--catalog", "-c", help="The library's catalog file (SQLite)."),
    all_faces: bool = typer.Option(False, "--all-faces", help="Enrich every face, not only faces of people."),
    models: Optional[Path] = typer.Option(None, "--models", help="Folder holding InsightFace packs (<DIR>/<pack>/*.onnx)."),
    device: str = typer.Option("auto", "--device", help="onnxruntime device for InsightFace landmark models."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Dense landmarks and head pose (pitch/yaw/roll) for the faces of people, then their composite
    quality. Re-run to resume; faces already enriched are skipped."""
    from facesets.enrich import enrich as run_enrich

    if not catalog.exists():
        fail(f"no catalog at {catalog}")
    with open_catalog(catalog, create=False) as cat:
        try:
            with progress_bars(not quiet) as hook:
                stats = run_enrich(cat, progress=hook, only_people=not all_faces,
                                   models=str(models) if models else None, device=device)
        except (CatalogBusy, CatalogError, EngineUnavailable) as exc:
            fail(str(exc))
    out.print(f"enriched {stats['enriched']} of {stats['todo']} faces with {stats['landmarker']}"
              f" ({stats['faces_per_s'] or 0:.1f} faces/s), unreadable photos {stats['failed_files']}",
              highlight=False)
    if stats["interrupted"]:
        notice("interrupted: finished work is saved; run the same command again to resume")
        raise typer.Exit(130)
