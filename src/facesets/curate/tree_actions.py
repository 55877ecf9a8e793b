"""The two tree actions several passes share:

- `drop_crop` (dedup, prune, occlusion): one crop moves to `_dropped/` (or the action's `to`)
  and its faceset's manifest, bundles and single image are rewritten from what is left;
- `quarantine_faceset` (consolidate, occlusion): a faceset's folder, bundles, single image and
  photos move under `_merged/` or `_masked/`, listed in the top manifest's merged[] / masked[].
"""
from __future__ import annotations

from pathlib import Path

from facesets.catalog import Catalog
from facesets.curate import tree
from facesets.curate.actions import ActionType, TreeContext, register
from facesets.curate.core import CurationError

DROP_ORDER, QUARANTINE_ORDER = 10, 30   # drops first; merged crops (20) join before facesets leave


def _check_drop(catalog: Catalog, root: Path | None, action: dict) -> None:
    """The crop is still there, with the bytes analyze saw."""
    path = root / action["faceset"] / action["file"]
    if not path.is_file() or (action.get("sha256") and tree.sha256_file(path) != action["sha256"]):
        raise CurationError(f"plan is stale: {action['faceset']}/{action['file']} changed; run analyze again")


def _drop_crops(context: TreeContext, actions: list[dict]) -> None:
    journal = context.journal
    leaving = {a["faceset"] for a in context.of_type("quarantine_faceset")}   # those go whole
    dropped: dict[str, set[str]] = {}
    for action in actions:
        if action["faceset"] not in leaving and journal.move(f"{action['faceset']}/{action['file']}",
                                                             action.get("to", "_dropped")):
            dropped.setdefault(action["faceset"], set()).add(action["file"])
    for label, files in sorted(dropped.items()):
        faceset = context.facesets.get(label)
        if faceset is not None:
            keep = [c for c in faceset.crops if c.file not in files]
            tree.rewrite_faceset(journal, faceset, keep, {"curated_by": context.plan["command"]})
            context.counts[label] = len(keep)


def _check_quarantine(catalog: Catalog, root: Path | None, action: dict) -> None:
    if not (root / action["faceset"]).is_dir():
        raise CurationError(f"plan is stale: faceset {action['faceset']} is gone; run analyze again")


def _quarantine(context: TreeContext, actions: list[dict]) -> None:
    for label, action in sorted({a["faceset"]: a for a in actions}.items()):
        moved = tree.quarantine_faceset(context.journal, label, action["to"])
        entry = {"faceset": label, "moved_to": moved, "reason": action.get("reason"),
                 "person_id": action.get("person_id"), "operation": context.journal.operation_id}
        entry.update(action.get("manifest", {}))
        context.lists[action.get("list", action["to"].strip("_"))].append(entry)


DROP_CROP = register(ActionType("drop_crop", check=_check_drop, apply_tree=_drop_crops, tree_order=DROP_ORDER,
                                needs_tree=True))
QUARANTINE_FACESET = register(ActionType("quarantine_faceset", check=_check_quarantine, apply_tree=_quarantine,
                                         tree_order=QUARANTINE_ORDER, needs_tree=True))
