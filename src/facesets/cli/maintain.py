"""Maintenance commands: `facesets doctor`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from facesets.catalog import CatalogBusy, CatalogError
from facesets.cli.main import app, open_catalog
from facesets.cli.ui import fail, out


@app.command()
def doctor(
    catalog: Path = typer.Option(..., "--catalog", "-c", help="The library's catalog file (SQLite)."),
    repair: bool = typer.Option(False, "--repair", help="Fix what can be fixed. Never deletes a user decision: "
                                "names, merges, removals and user assignments are always kept."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a catalog's integrity: SQLite damage, orphan faces and aliases, missing source photos,
    embeddings that do not match the catalog's model, runs left half-done by a crash.

    Exit code 0 when the catalog is healthy (or everything found was repaired), 1 otherwise."""
    from facesets.doctor import diagnose

    if not catalog.exists():
        fail(f"no catalog at {catalog}")
    with open_catalog(catalog, create=False) as cat:
        try:
            if repair:
                cat.acquire_writer_lock("doctor --repair")
            report = diagnose(cat, repair=repair)
        except CatalogBusy as exc:
            fail(str(exc))
        except CatalogError as exc:
            fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    if report.outstanding:
        raise typer.Exit(1)


def _print_report(report) -> None:
    out.print(f"catalog  {report.catalog}", highlight=False, soft_wrap=True)
    if report.healthy:
        out.print("healthy: no problem found", highlight=False)
        return
    for finding in report.findings:
        if not report.repaired:
            mark = "problem"
        elif finding.repaired >= finding.count:
            mark = "repaired"
        else:
            mark = f"not repaired ({finding.repaired}/{finding.count} fixed)" if finding.repaired else "not repaired"
        out.print(f"[{mark}] {finding.check}: {finding.problem}", highlight=False, markup=False, soft_wrap=True)
        for example in finding.examples:
            out.print(f"    e.g. {example}", highlight=False, markup=False, soft_wrap=True)
        if not report.repaired or finding.repaired < finding.count:
            out.print(f"    {'--repair: ' if finding.repairable else ''}{finding.repair}", highlight=False,
                      markup=False, soft_wrap=True)
    if not report.repaired and any(f.repairable for f in report.findings):
        out.print("run again with --repair to fix (user decisions are never deleted)", highlight=False)
