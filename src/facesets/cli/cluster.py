"""Clustering commands: `facesets cluster`, `refine`, `extend`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from facesets.catalog import CatalogBusy, CatalogError
from facesets.cli.main import CatalogOpt, app, open_catalog
from facesets.cli.ui import fail, notice, out, progress_bars

LinkOpt = typer.Option("copy", "--link", help="How photos are put in OUT: copy, hardlink or symlink.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars.")
ParamOpt = typer.Option(None, "--param", "-p", metavar="NAME=VALUE",
                        help="Override a clustering parameter for this run (repeatable), e.g. "
                             "-p distance=0.08. Names: see `facesets cluster --show-params`.")


def parse_params(pairs: Optional[List[str]]) -> dict:
    params = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            fail(f"--param wants NAME=VALUE, got {pair!r}")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            fail(f"--param {name}: {value!r} is not a number")
    return params


def _run_stage(stage, catalog: Path, quiet: bool, **kwargs) -> dict:
    if not catalog.exists():
        fail(f"no catalog at {catalog}")
    with open_catalog(catalog, create=False) as cat:
        try:
            with progress_bars(not quiet) as hook:
                return stage(cat, progress=hook, **kwargs)
        except CatalogBusy as exc:
            fail(str(exc))
        except (CatalogError, ValueError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            notice("interrupted: the catalog is unchanged or complete; run the command again")
            raise typer.Exit(130)


def _report(stats: dict) -> None:
    out.print("  ".join(f"{k} {v}" for k, v in stats.items() if not isinstance(v, dict)), highlight=False)
    for key, value in stats.items():
        if isinstance(value, dict):
            out.print(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()), highlight=False)


@app.command("cluster")
def cluster_cmd(
    out_dir: Optional[Path] = typer.Argument(None, metavar="OUT", help="Write OUT/person_NNN/, "
                                             "_singletons/, _noface/ and manifest.json (optional)."),
    catalog: Path = CatalogOpt, link: str = LinkOpt, param: Optional[List[str]] = ParamOpt,
    show_params: bool = typer.Option(False, "--show-params", help="Print the parameters in effect and exit."),
    quiet: bool = QuietOpt,
) -> None:
    """Cluster every embedded face by identity into people. Person numbers are kept across
    re-runs; names, removals and moves made by the user are respected."""
    from facesets.cluster import cluster, cluster_params

    if show_params:
        with open_catalog(catalog, create=False) as cat:
            try:
                out.print_json(cluster_params(cat, parse_params(param)).to_json())
            except CatalogError as exc:
                fail(str(exc))
        return
    _report(_run_stage(cluster, catalog, quiet, out=out_dir, link=link, params=parse_params(param)))


@app.command("refine")
def refine_cmd(
    out_dir: Optional[Path] = typer.Argument(None, metavar="OUT", help="Write OUT/faceset_NNN/ and "
                                             "refine_manifest.json (optional)."),
    catalog: Path = CatalogOpt, link: str = LinkOpt, param: Optional[List[str]] = ParamOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Refine people into facesets: refine's clustering and centroid merge, then a quality gate
    (face size, sharpness, detector score), outlier rejection and a minimum faceset size."""
    from facesets.cluster import refine

    _report(_run_stage(refine, catalog, quiet, out=out_dir, link=link, params=parse_params(param)))


@app.command("extend")
def extend_cmd(
    out_dir: Optional[Path] = typer.Argument(None, metavar="OUT", help="Tree to update (default: the "
                                             "last `cluster` OUT)."),
    catalog: Path = CatalogOpt, link: str = LinkOpt, param: Optional[List[str]] = ParamOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Fold faces embedded since the last clustering into existing people (or new ones),
    without renumbering anyone; trees written before are updated in place."""
    from facesets.cluster import extend

    _report(_run_stage(extend, catalog, quiet, out=out_dir, link=link, params=parse_params(param)))
