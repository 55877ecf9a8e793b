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


def main_face_labels(catalog: Catalog, fixes: dict[str, str] | None = None) -> tuple[list[int], list[str]]:
    """(face ids, identity labels): the face nearest the photo's centre carries the folder's
    identity (LFW crops centre the labelled person); any other face is an unknown bystander and
    gets a label of its own. `fixes` maps file names to corrected identities."""
    fixes = LFW_LABEL_FIXES if fixes is None else fixes
    rows = catalog.conn.execute(
        "SELECT faces.id, faces.file_id, files.path, files.width, files.height, "
        "(faces.x1 + faces.x2) / 2 AS cx, (faces.y1 + faces.y2) / 2 AS cy "
        "FROM faces JOIN files ON files.id = faces.file_id ORDER BY faces.id").fetchall()
    best: dict[int, tuple[float, int]] = {}
    for r in rows:
        off = (r["cx"] - r["width"] / 2) ** 2 + (r["cy"] - r["height"] / 2) ** 2
        if r["file_id"] not in best or off < best[r["file_id"]][0]:
            best[r["file_id"]] = (off, r["id"])
    main = {face_id for _, face_id in best.values()}
    ids, labels = [], []
    for r in rows:
        path = Path(r["path"])
        ids.append(r["id"])
        labels.append(fixes.get(path.name, path.parent.name) if r["id"] in main else f"bystander:{r['id']}")
    return ids, labels
