"""Photo trees written from the catalog: `cluster`'s person_NNN/ folders and `refine`'s
faceset_NNN/ folders, each with a manifest.

A tree is built in a staging folder and swapped in whole (outputs.staged_dir). Files that
the previous tree already holds under the same name are hard-linked from it rather than
copied again, so `extend` updates a large tree in seconds.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .. import outputs
from ..catalog import Catalog, Person
from ..media.paths import fs_path
from ..outputs import OWN_MARK  # noqa: F401 - where export and curation have always found it


def folder_name(person: Person, prefix: str) -> str:
    """person_007, or person_007_Ada_Lovelace once the person is named."""
    base = f"{prefix}_{person.id:03d}"
    return f"{base}_{outputs.safe_component(person.name)}" if person.name else base


def _check_owned(out: Path, catalog: Catalog) -> None:
    if not out.exists() or not any(out.iterdir()):
        return
    if (out / OWN_MARK).exists():
        return
    raise ValueError(f"{out} holds files facesets did not write; choose an empty or new folder")


def _put(staging: Path, previous: Path, folder: str, source: str, sha: str | None, link: str) -> str:
    name = outputs.stable_name(source, sha)
    target = staging / folder / name
    old = previous / folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return name
    if link != "symlink" and old.is_file() and not old.is_symlink():
        try:
            os.link(old, target)
            return name
        except OSError:
            pass
    outputs.materialise(source, target, link)
    return name


def write_photo_tree(catalog: Catalog, out: str | os.PathLike, groups: dict[str, list[int]],
                     extra: dict[str, list[int]], manifest_name: str, provenance: dict,
                     link: str = "copy", people_rows: dict[str, Person] | None = None,
                     progress=None) -> dict:
    """Write folders of photos: `groups` maps a folder name to its faces' photo ids (people),
    `extra` maps folders such as _singletons/_noface to photo ids. Every alias is materialised."""
    out = Path(out)
    _check_owned(out, catalog)
    all_files = {f for ids in list(groups.values()) + list(extra.values()) for f in ids}
    places = catalog.files.locations(all_files)
    total = sum(len(set(v)) for v in groups.values()) + sum(len(set(v)) for v in extra.values())
    manifest = {"provenance": provenance, "people": [], "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with outputs.staged_dir(out) as staging:
        outputs.mark_own(staging)
        for folder, file_ids in list(groups.items()) + list(extra.items()):
            entries = []
            for file_id in sorted(set(file_ids)):
                for source, sha in places.get(file_id, []):
                    if not os.path.exists(fs_path(source)):
                        continue
                    entries.append({"file": _put(staging, out, folder, source, sha, link),
                                    "source": source, "file_id": file_id})
                if progress:
                    progress("writing", 1, total)
            if folder in groups:
                row = (people_rows or {}).get(folder)
                manifest["people"].append({"folder": folder, "person": row.id if row else None,
                                           "name": row.name if row else None,
                                           "label": row.label if row else folder,
                                           "photos": len(set(file_ids)), "files": entries})
            else:
                manifest[folder.strip("_")] = entries
        outputs.write_json(staging / manifest_name, manifest)
    return {"folders": len(groups), "files": total}
