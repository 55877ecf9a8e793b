"""`facesets run PHOTOS OUT`: the whole pipeline in one command."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from facesets.catalog import CatalogBusy, CatalogError
from facesets.cli.export import TargetOpt, export_options
from facesets.cli.main import (ClusterOpt, DetectorOpt, DeviceOpt, EngineOpt, MinFaceOpt, ModelsOpt, PackOpt, PathMapOpt,
                               TlsCaOpt, TlsCertOpt, TlsKeyOpt, app, cluster_options, engine_options, open_catalog)
from facesets.cli.ui import fail, notice, out, progress_bars
from facesets.engines import EngineUnavailable

_opts = export_options()


@app.command("run")
def run_cmd(
    sources: List[Path] = typer.Argument(..., metavar="PHOTOS... OUT", help="Folders of photos and videos "
                                         "(read-only), then the output folder (may lie inside PHOTOS: what facesets "
                                         "writes is never read as a source)."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", "-c", help="Catalog file (default: OUT/library.db)."),
    engine: str = EngineOpt, pack: str = PackOpt, models: Optional[Path] = ModelsOpt, device: str = DeviceOpt,
    detector: str = DetectorOpt, min_face: int = MinFaceOpt,
    target: Optional[List[str]] = TargetOpt,
    top_n: int = _opts["top_n"], out_size: int = _opts["out_size"], pad_ratio: float = _opts["pad_ratio"],
    candidates: bool = _opts["candidates"],
    video_step: float = typer.Option(1.0, "--video-step", help="Videos: a frame every this many seconds, plus scene changes."),
    max_video_seconds: Optional[float] = typer.Option(None, "--max-video-seconds", help="Videos: only their first this many seconds."),
    cluster: Optional[str] = ClusterOpt, path_map: Optional[List[str]] = PathMapOpt,
    tls_ca_file: Optional[Path] = TlsCaOpt, tls_cert: Optional[Path] = TlsCertOpt, tls_key: Optional[Path] = TlsKeyOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Embed, cluster, refine, enrich and export in one go: OUT/facesets/ gets the .fsz bundles,
    crops, photos, manifests and index.html. Run it again on the same OUT after adding photos:
    only new photos are read and they join the people already found."""
    from facesets.embed import ClusterError, EmbedOptions
    from facesets.pipeline import CATALOG_NAME, run

    if len(sources) < 2:
        fail("give at least one photo folder and the output folder: facesets run PHOTOS OUT")
    *photos, out_dir = sources
    missing = [str(s) for s in photos if not s.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir} is a file, not a folder")
    on = cluster_options(cluster, path_map, tls_ca_file, tls_cert, tls_key)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_catalog(catalog or out_dir / CATALOG_NAME) as cat:
        try:
            with progress_bars(not quiet) as hook:
                report = run(photos, out_dir, catalog=cat,
                             engine_options=engine_options(engine, pack, models, device, detector),
                             targets=target or ("roop", "folders"),
                             export_options=dict(top_n=top_n, out_size=out_size, pad_ratio=pad_ratio,
                                                 candidates=candidates),
                             embed_options=EmbedOptions(video_step=video_step, max_video_seconds=max_video_seconds,
                                                        min_face=min_face, cluster=on),
                             progress=hook)
        except (CatalogBusy, CatalogError, ClusterError, EngineUnavailable, ValueError) as exc:
            fail(str(exc))
        except OSError as exc:  # disk full, I/O error: one line; the export is staged, so the old one stays
            fail(f"run stopped: {exc.strerror or exc}; finished work is saved and the previous export "
                 "left intact: run the same command again once that is fixed")
        except KeyboardInterrupt:
            notice("interrupted: finished work is saved; run the same command again to resume")
            raise typer.Exit(130)
    for stage, stats in report.items():
        flat = {k: v for k, v in stats.items() if not isinstance(v, (dict, list))}
        out.print(f"{stage:8s} " + "  ".join(f"{k} {v}" for k, v in flat.items()), highlight=False)
    out.print(f"facesets: {out_dir / 'facesets'}   contact sheet: {out_dir / 'facesets' / 'index.html'}",
              highlight=False)
