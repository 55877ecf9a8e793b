"""`facesets tag` (names out as XMP face regions) and `facesets name --refs` (names in from
reference photos). The work is in facesets.names."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from facesets.cli.main import DetectorOpt, DeviceOpt, EngineOpt, ModelsOpt, PackOpt, app, engine_options, open_catalog
from facesets.cli.ui import fail, out, progress_bars

CatalogOpt = typer.Option(..., "--catalog", "-c", help="The library's catalog file (SQLite).")


@app.command()
def tag(
    out_dir: Optional[Path] = typer.Argument(None, metavar="[OUT]", help="Mirror tree of sidecars (default: "
                                             "<catalog>-xmp beside the catalog)."),
    catalog: Path = CatalogOpt,
    unnamed: bool = typer.Option(False, "--unnamed", help="Also tag the faces of unnamed people, as person_NNN."),
    beside_sources: bool = typer.Option(False, "--beside-sources",
                                        help="New sidecars photo.jpg.xmp beside the photos. An existing sidecar is "
                                             "never modified: it is listed and its photo's regions go to OUT. "
                                             "`facesets undo` removes the sidecars this created."),
) -> None:
    """Write every named face as an XMP face region (Metadata Working Group), as digiKam,
    Lightroom and Immich read them. Image files are never written."""
    from facesets.catalog import CatalogBusy, CatalogError
    from facesets.curate.tree import TreeError
    from facesets.media.xmp import XmpUnavailable
    from facesets.names import tag as run_tag

    with open_catalog(catalog, create=False) as cat:
        try:
            result = run_tag(cat, out_dir, unnamed=unnamed, beside_sources=beside_sources)
        except (XmpUnavailable, CatalogBusy, CatalogError, TreeError, ValueError, OSError) as exc:
            fail(str(exc))
    out.print(f"tagged {result.regions} faces on {result.photos} photos", highlight=False)
    if beside_sources:
        out.print(f"beside sources: {len(result.created)} new sidecars; undo: facesets undo --catalog {catalog}",
                  highlight=False, soft_wrap=True)
    for sidecar in result.kept:
        out.print(f"  existing sidecar left as it is (regions in OUT): {sidecar}", highlight=False, soft_wrap=True)
    if result.out:
        out.print(f"{result.written} sidecars in {result.out}", highlight=False, soft_wrap=True)


@app.command()
def name(
    refs: Path = typer.Option(..., "--refs", help="Reference photos: DIR/alice.jpg, DIR/alice_2.jpg or DIR/alice/*.jpg."),
    catalog: Path = CatalogOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Say who would be named; change nothing."),
    engine: str = EngineOpt, pack: str = PackOpt, models: Optional[Path] = ModelsOpt, device: str = DeviceOpt,
    detector: str = DetectorOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Name people from reference photos: a person within the profile's match distance of one
    name's references gets it (a photo with several faces counts by its largest). Ambiguous
    matches are listed for review, not applied. `facesets undo` takes the names back."""
    from facesets.catalog import CatalogBusy, CatalogError
    from facesets.engines import EngineUnavailable
    from facesets.names import name_from_refs

    if not refs.is_dir():
        fail(f"{refs} is not a folder of reference photos")
    with open_catalog(catalog, create=False) as cat:
        try:
            with progress_bars(not quiet) as hook:
                given = engine_options(engine, pack, models, device, detector)
                result = name_from_refs(cat, refs, engine_options=given if engine != "auto" else None,
                                        apply=not dry_run, progress=hook)
        except (CatalogBusy, CatalogError, EngineUnavailable, ValueError) as exc:
            fail(str(exc))
        labels = {p.id: p.label for p in cat.people.all()}
    verb = "would name" if dry_run else "named"
    for person, person_name in sorted(result.named.items()):
        out.print(f"{verb} person_{person:03d} {person_name}", highlight=False)
    for item in result.review:
        who = ", ".join(labels.get(p, str(p)) for p in item.get("people", [item.get("person")]))
        out.print(f"review: {who}: {item['reason']} ({', '.join(item['names'])})", highlight=False, soft_wrap=True)
    for photo in result.no_face:
        out.print(f"no face in reference {photo}", highlight=False, soft_wrap=True)
    out.print(f"{len(result.named)} {verb}, {len(result.already)} already named so, {len(result.review)} for review"
              + (f"; undo: facesets undo --catalog {catalog}" if result.operation_id else ""), highlight=False)
