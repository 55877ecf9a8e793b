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
    rows = catalog.faces.positions()
    best: dict[int, tuple[float, int]] = {}
    for face_id, file_id, _path, width, height, cx, cy in rows:
        off = (cx - width / 2) ** 2 + (cy - height / 2) ** 2
        if file_id not in best or off < best[file_id][0]:
            best[file_id] = (off, face_id)
    main = {face_id for _, face_id in best.values()}
    ids, labels = [], []
    for face_id, _file_id, path, *_ in rows:
        path = Path(path)
        ids.append(face_id)
        labels.append(fixes.get(path.name, path.parent.name) if face_id in main else f"bystander:{face_id}")
    return ids, labels
