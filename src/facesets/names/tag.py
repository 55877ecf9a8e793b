"""`facesets tag`: the names facesets knows, written back as XMP face regions (MWG) so digiKam,
Lightroom and Immich show them on the right faces.

By default every photo with a named person gets a sidecar `photo.jpg.xmp` in a mirror tree under
OUT (a facesets tree: staged, swapped in whole, never read as a source). `--beside-sources` puts
new sidecars beside the photos instead, and only new ones: a photo that already has a sidecar
(`photo.jpg.xmp` or `photo.xmp`) keeps it untouched, it is listed, and that photo's regions go to
OUT. Image files are never written. The sidecars created beside sources are journaled, so
`facesets undo` removes them (unless changed since).
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facesets import outputs
from facesets.catalog import Catalog
from facesets.curate.core import record_applied
from facesets.curate.tree import TreeJournal
from facesets.media.paths import fs_path
from facesets.media.xmp import existing_sidecars, regions_packet

SIDECAR = ".xmp"   # appended to the photo's name, as digiKam and Immich write and read it


@dataclass
class TagResult:
    photos: int = 0                   # photos with at least one region
    regions: int = 0
    out: str | None = None            # the mirror tree, when anything went there
    written: int = 0                  # sidecars in OUT
    created: list[str] = field(default_factory=list)    # new sidecars beside sources
    kept: list[str] = field(default_factory=list)       # existing sidecars left as they were
    operation_id: int | None = None   # what `facesets undo` reverts

    def as_dict(self) -> dict:
        return asdict(self)


def default_out(catalog: Catalog) -> Path:
    return catalog.path.with_name(f"{catalog.path.stem}-xmp")


def tag(catalog: Catalog, out: str | os.PathLike | None = None, *, unnamed: bool = False,
        beside_sources: bool = False) -> TagResult:
    """Write MWG face regions of every named face (`unnamed`: of every person's face, as
    person_NNN; never a hidden person's) of every embedded photo; returns what was written where."""
    out = Path(out) if out is not None else default_out(catalog)
    photos = _photos(catalog, unnamed)
    result = TagResult(photos=len(photos), regions=sum(len(p["faces"]) for p in photos.values()))
    params = {"out": str(out.resolve()), "unnamed": unnamed, "beside_sources": beside_sources}
    with catalog.writer("tag"):
        to_out: list[tuple[str, bytes]] = []
        beside: list[tuple[str, bytes]] = []
        for photo in photos.values():
            packet = regions_packet(photo["faces"], photo["width"], photo["height"])
            for path in photo["paths"]:
                if not beside_sources:
                    to_out.append((path, packet))
                elif kept := existing_sidecars(path):
                    result.kept.append(kept[0])
                    to_out.append((path, packet))
                else:
                    beside.append((path, packet))
        if beside:
            root = Path(os.path.commonpath([os.path.dirname(p) for p, _ in beside]))
            journal = TreeJournal(root, 0)
            for path, packet in beside:
                sidecar = path + SIDECAR
                if journal.create(os.path.relpath(sidecar, root), packet):
                    result.created.append(sidecar)
                else:   # appeared since we looked: never overwritten
                    result.kept.append(sidecar)
                    to_out.append((path, packet))
            result.operation_id = record_applied(catalog, "tag", params, root, journal.steps,
                                                 summary={"created": len(result.created)})
        if to_out:
            _write_mirror(out, to_out)
            result.out, result.written = str(out), len(to_out)
    return result


def _photos(catalog: Catalog, unnamed: bool) -> dict[int, dict]:
    """Photo id -> {faces: [(label, box)], width, height, paths (every location on disk)}."""
    faces: dict[int, list] = defaultdict(list)
    size: dict[int, tuple[int, int]] = {}
    hidden = catalog.people.hidden_ids()
    for region in catalog.faces.person_regions(include_unnamed=unnamed):
        if region.person_id in hidden:   # hidden people are tagged again once shown
            continue
        faces[region.file_id].append((region.label, region.box))
        size[region.file_id] = (region.width, region.height)
    places = catalog.files.locations(faces)
    photos = {}
    for file_id, regions in faces.items():
        paths = [fs_path(p) for p, _ in places.get(file_id, []) if os.path.isfile(fs_path(p))]
        if paths:
            photos[file_id] = {"faces": regions, "width": size[file_id][0], "height": size[file_id][1], "paths": paths}
    return photos


def _write_mirror(out: Path, sidecars: list[tuple[str, bytes]]) -> None:
    """OUT/<the photo's path below the photos' common folder>.xmp, staged and swapped in."""
    if out.exists() and any(out.iterdir()) and not (out / outputs.OWN_MARK).exists():
        raise ValueError(f"{out} holds files facesets did not write; choose an empty or new folder")
    common = os.path.commonpath([os.path.dirname(path) for path, _ in sidecars])
    with outputs.staged_dir(out) as staging:
        outputs.mark_own(staging)
        for path, packet in sidecars:
            target = outputs.inside(staging, os.path.relpath(path, common) + SIDECAR)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(packet)
