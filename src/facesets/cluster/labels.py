"""Ground truth for labelled face folders (LFW-style: identity = folder name), used by the
benchmarks and tests that measure clustering and export quality."""
from __future__ import annotations

from pathlib import Path

from ..catalog import Catalog

# LFW photos checked by eye whose folder label is not the face the photo centres on.
# Each is printed by the benchmarks, which report figures with and without these fixes.
LFW_LABEL_FIXES = {
    "Recep_Tayyip_Erdogan_0004.jpg": "Abdullah_Gul",   # the photo shows Abdullah Gul; Erdogan is behind
}


def main_faces(rows) -> set[int]:
    """Ids of the face nearest each photo's centre (LFW crops centre the labelled person), from
    `Catalog.face_photos()` rows."""
    best: dict[int, tuple[float, int]] = {}
    for r in rows:
        off = (((r["x1"] + r["x2"]) / 2 - r["width"] / 2) ** 2
               + ((r["y1"] + r["y2"]) / 2 - r["height"] / 2) ** 2)
        if r["file_id"] not in best or off < best[r["file_id"]][0]:
            best[r["file_id"]] = (off, r["id"])
    return {face_id for _, face_id in best.values()}


def main_face_labels(catalog: Catalog, fixes: dict[str, str] | None = None) -> tuple[list[int], list[str]]:
    """(face ids, identity labels): the face nearest the photo's centre carries the folder's
    identity; any other face is an unknown bystander and gets a label of its own. `fixes` maps
    file names to corrected identities."""
    fixes = LFW_LABEL_FIXES if fixes is None else fixes
    rows = catalog.face_photos()
    main = main_faces(rows)
    ids, labels = [], []
    for r in rows:
        path = Path(r["path"])
        ids.append(r["id"])
        labels.append(fixes.get(path.name, path.parent.name) if r["id"] in main else f"bystander:{r['id']}")
    return ids, labels
