"""Era sets in the catalog and the tree: the `create_era` and `extend_era` actions that
`age-split` and `age-extend` plan.

An era set is a person whose parent_id is the split person; its faceset folder (thin ones under
`_thin/`) is built from the crops already exported for its faces, best first, with a manifest
and bundles of the sizes the parent's faceset has.
"""
from __future__ import annotations

from pathlib import Path

from facesets.catalog import AssignedBy, Catalog, PersonStatus
from facesets.curate import tree
from facesets.curate.actions import ActionType, TreeContext, register
from facesets.curate.core import CurationError

CREATE_ORDER, EXTEND_ORDER = 40, 50   # after drops, merges and quarantines


def write_era_sets(journal: tree.TreeJournal, facesets: dict, eras: list[dict]) -> list[dict]:
    """Each era becomes a faceset folder (thin ones under `_thin/`) built from the crops already
    exported for its faces, best first, with its manifest and bundles (of the parent's sizes)."""
    crops: dict[int, tuple] = {}
    ordered = sorted(facesets.values(), key=lambda f: f.label)
    for action in eras:   # the parent's own crops win over copies elsewhere
        ordered.sort(key=lambda f: f.person_id != action["parent"])
    for faceset in ordered:
        for crop in faceset.crops:
            crops.setdefault(crop.face_id, (faceset, crop))
    thin_entries = []
    for action in eras:
        parent = next((f.label for f in ordered if f.person_id == action["parent"]), None)
        base = "_thin" if action["thin"] else ""
        folder = f"{base}/{action['folder']}" if base else action["folder"]
        present = [crops[f] for f in action["faces"] if f in crops]
        journal.make_dir(folder)
        entries, pngs = [], []
        for index, (faceset, crop) in enumerate(present):
            journal.copy(f"{faceset.label}/{crop.file}", f"{folder}/{index}.png")
            entries.append({**crop.entry, "file": f"{index}.png", "rank": index, "from": f"{faceset.label}/{crop.file}"})
            pngs.append(tree.inside(journal.root, f"{folder}/{index}.png"))
        manifest = {"person": action.get("person"), "name": action["name"], "folder": action["folder"],
                    "parent_id": action["parent"], "parent": action["parent_label"],
                    "era": action["era"], "faces": entries, "faces_in_era": len(action["faces"]),
                    "faces_without_crop": len(action["faces"]) - len(present)}
        journal.write(f"{folder}/manifest.json", tree.json_bytes(manifest))
        tree.rebuild_bundles(journal, action["folder"], pngs, parent=base or ".", like=parent)
        if action["thin"]:
            thin_entries.append({"faceset": action["folder"], "moved_to": folder, "person_id": action.get("person"), "era": action["era"],
                                 "parent": action["parent_label"], "faces": len(action["faces"]),
                                 "reason": "era set under the minimum size", "operation": journal.operation_id})
    return thin_entries


def extend_era_sets(journal: tree.TreeJournal, facesets: dict, actions: list[dict]) -> None:
    """New crops join each era folder (top level or `_thin/`); manifest and bundles rebuilt."""
    crops = {c.face_id: (f, c) for f in sorted(facesets.values(), key=lambda f: f.label) for c in f.crops}
    for action in actions:
        folder = action.get("folder")
        if not folder:
            continue   # the era was never exported: the catalog change is all there is
        if not (tree.inside(journal.root, folder) / "manifest.json").is_file():
            raise tree.TreeError(f"era set {action['name']} is not in the export tree")
        additions = [(crops[f][0].folder / crops[f][1].file, crops[f][1].entry) for f in action["faces"] if f in crops]
        tree.append_crops(journal, folder, additions)


def _check_create(catalog: Catalog, root: Path | None, action: dict) -> None:
    """Every face of the era is still the parent's or nobody's."""
    allowed = {action.get("parent", action.get("person")), None}
    owners = catalog.faces.owners(action["faces"])
    for face in action["faces"]:
        owner = owners.get(int(face), -1)
        if owner not in allowed:
            raise CurationError(f"plan is stale: face {face} moved to person {owner}; run analyze again")


def _check_extend(catalog: Catalog, root: Path | None, action: dict) -> None:
    """Every face joining the era is still its parent's."""
    era = catalog.people.get(action["person"])
    owners = catalog.faces.owners(action["faces"])
    for face in action["faces"]:
        if era is None or owners.get(int(face), -1) != era.parent_id:
            raise CurationError(f"plan is stale: face {face} is no longer the person's; run analyze again")


def _create(catalog: Catalog, action: dict) -> int:
    thin = bool(action.get("thin"))
    person = catalog.people.create(name=action.get("name"), parent_id=action["parent"], era=action["era"],
                                   status=PersonStatus.THIN if thin else PersonStatus.ACTIVE, faceset=not thin)
    catalog.people.assign(action["faces"], person, AssignedBy.CURATE)
    action["person"] = person   # the era's manifest carries its number
    return person


def _extend(catalog: Catalog, action: dict) -> None:
    catalog.people.assign(action["faces"], action["person"], AssignedBy.CURATE)


def _write(context: TreeContext, actions: list[dict]) -> None:
    context.lists["thin"] += write_era_sets(context.journal, context.facesets, actions)


def _append(context: TreeContext, actions: list[dict]) -> None:
    extend_era_sets(context.journal, context.facesets, actions)


CREATE_ERA = register(ActionType("create_era", check=_check_create, touched=lambda a: ({a["parent"]}, a["faces"]),
                                 apply_catalog=_create, apply_tree=_write, tree_order=CREATE_ORDER))
EXTEND_ERA = register(ActionType("extend_era", check=_check_extend, touched=lambda a: ({a["person"]}, a["faces"]),
                                 apply_catalog=_extend, apply_tree=_append, tree_order=EXTEND_ORDER))
