"""`facesets export`: swap-ready facesets (roop .fsz, FaceFusion folders, single images, photos)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from facesets.catalog import CatalogBusy, CatalogError
from facesets.cli.main import CatalogOpt, app, open_catalog
from facesets.cli.ui import fail, notice, out, progress_bars
from facesets.engines import EngineUnavailable

TargetOpt = typer.Option(None, "--target", "-t", help="roop (.fsz bundles), facefusion (folder of PNGs), "
                         "single (one best crop), folders (original photos); repeatable. "
                         "Default: roop and folders.")


def export_options():
    """Options shared by `export` and `run`."""
    return dict(top_n=typer.Option(30, "--top-n", help="Faces in each <faceset>_top<N>.fsz."),
                out_size=typer.Option(512, "--out-size", help="Crop size in pixels (square PNG)."),
                pad_ratio=typer.Option(0.5, "--pad-ratio", help="Margin around the face, as a share of its size."),
                candidates=typer.Option(False, "--candidates", help="Also offer one-face photos left out "
                                        "of every person: _candidates/to_<faceset>/ and _candidates/new_NNN/."))


_opts = export_options()


@app.command("export")
def export_cmd(
    out_dir: Path = typer.Argument(..., metavar="OUT", help="Export folder (replaced as a whole, atomically)."),
    catalog: Path = CatalogOpt,
    target: Optional[List[str]] = TargetOpt,
    top_n: int = _opts["top_n"], out_size: int = _opts["out_size"], pad_ratio: float = _opts["pad_ratio"],
    candidates: bool = _opts["candidates"],
    link: str = typer.Option("copy", "--link", help="How original photos are put in OUT: copy, hardlink, symlink."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Export every faceset refine selected: ranked square crops that each hold exactly one
    face, roop-unleashed .fsz bundles, FaceFusion folders, a single best image, the photos,
    manifests and an index.html contact sheet. Run `facesets refine` first."""
    from facesets.export import export

    if not catalog.exists():
        fail(f"no catalog at {catalog}")
    with open_catalog(catalog, create=False) as cat:
        try:
            with progress_bars(not quiet) as hook:
                stats = export(cat, out_dir, targets=target or ("roop", "folders"), top_n=top_n,
                               out_size=out_size, pad_ratio=pad_ratio, candidates=candidates, link=link,
                               progress=hook)
        except (CatalogBusy, CatalogError, EngineUnavailable, ValueError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"export failed, previous export left intact: {exc.strerror or exc}")
        except KeyboardInterrupt:
            notice("interrupted: the previous export is intact")
            raise typer.Exit(130)
    out.print("  ".join(f"{k} {v}" for k, v in stats.items()), highlight=False)
    out.print(f"contact sheet: {out_dir / 'index.html'}", highlight=False)
