"""Plans, apply and undo: the one core every curation pass goes through.

A pass only *proposes*: it returns groups (for the review page) and actions. `analyze` stores the
plan in the catalog's `operations` table (status planned) and writes its JSON and an HTML review
page; `apply` executes the actions, recording a journal of reversible steps (tree moves and writes,
the catalog rows as they were before); `undo` replays the journal of the last applied plan backwards.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from facesets import __version__
from facesets.catalog import Catalog, CatalogError
from facesets.curate import tree
from facesets.outputs import write_json
from facesets.profiles import profile_for

PLAN_FORMAT = "facesets-curation-plan/1"
FACE_COLUMNS = ("person_id", "assigned_by", "clustered_run", "gate")
CURATE = "curate"   # faces.assigned_by for faces curation moved


class CurationError(RuntimeError):
    """A plan cannot be made, applied or undone as asked (one-line, user-facing)."""


@dataclass
class Proposal:
    """What a pass proposes: review groups, actions, and a summary of counts."""
    groups: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def provenance(catalog: Catalog, command: str, params: dict) -> dict:
    model = catalog.embedding_model()
    return {"tool": "facesets", "version": __version__, "command": command, "params": params,
            "engine": model.engine if model else None, "model": model.key if model else None,
            "profile": profile_for(model.key if model else None).as_dict(), "time": now(),
            "catalog": str(catalog.path)}


def analyze(catalog: Catalog, command: str, params: dict, run: Callable[[], Proposal],
            out: str | os.PathLike | None = None, html: str | os.PathLike | None = None,
            root: Path | None = None) -> dict:
    """Run a pass, store its plan (status planned), write the plan JSON and the review page."""
    proposal = run()
    plan = {"format": PLAN_FORMAT, "command": command, "params": params,
            "provenance": provenance(catalog, command, params), "catalog": str(catalog.path),
            "export_root": str(root) if root else None, "groups": proposal.groups,
            "actions": proposal.actions, "summary": proposal.summary}
    with catalog.transaction() as conn:
        cur = conn.execute("INSERT INTO operations(command, plan) VALUES (?, ?)",
                           (command, json.dumps(plan, sort_keys=True, default=str)))
        plan["operation_id"] = int(cur.lastrowid)
        conn.execute("UPDATE operations SET plan = ? WHERE id = ?",
                     (json.dumps(plan, sort_keys=True, default=str), plan["operation_id"]))
    if out:
        write_json(out, plan)
        html = html or Path(out).with_suffix(".html")
    if html:
        from facesets.curate.review import write_review
        write_review(html, plan)
    return plan


def load_plan(catalog: Catalog, plan: int | str | os.PathLike | dict) -> dict:
    """A plan by operation id, plan file or dict; the catalog's stored copy is what runs."""
    if isinstance(plan, dict):
        op_id = plan.get("operation_id")
    elif isinstance(plan, int) or (isinstance(plan, str) and plan.isdigit()):
        op_id = int(plan)
    else:
        try:
            data = json.loads(Path(plan).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CurationError(f"cannot read plan {plan}: {exc}") from None
        if data.get("format") != PLAN_FORMAT:
            raise CurationError(f"{plan} is not a facesets curation plan")
        op_id = data.get("operation_id")
    row = catalog.conn.execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone()
    if row is None:
        raise CurationError(f"plan {op_id} is not in this catalog ({catalog.path})")
    if row["status"] != "planned":
        raise CurationError(f"plan {op_id} ({row['command']}) is already {row['status']}; run analyze again")
    stored = json.loads(row["plan"])
    stored["operation_id"] = int(row["id"])
    return stored


# -- apply -------------------------------------------------------------------------------

def apply(catalog: Catalog, plan: int | str | os.PathLike | dict, include_uncertain: bool | None = None) -> dict:
    """Execute a planned operation; every step is journaled so `undo` can revert it exactly."""
    plan = load_plan(catalog, plan)
    op_id = plan["operation_id"]
    actions = [a for a in plan["actions"] if not a.get("uncertain") or include_uncertain]
    root = Path(plan["export_root"]) if plan.get("export_root") else None
    needs_tree = any(a["type"] in TREE_REQUIRED for a in actions)
    if needs_tree and (root is None or not root.is_dir()):
        raise CurationError(f"export tree {root} not found; export first or pass --export-root")
    _check_fresh(root, actions)
    _check_people(catalog, actions)
    catalog.acquire_writer_lock(f"curate apply {plan['command']}")
    journal = tree.TreeJournal(root, op_id) if root is not None and root.is_dir() else None
    try:
        # catalog first (era people get their numbers, which their folders' manifests carry),
        # then the tree; a failure in the tree reverts both
        before = _snapshot(catalog, actions)
        with catalog.transaction() as conn:
            created = _apply_catalog(conn, actions)
        before["created_people"] = created
        try:
            if journal is not None:
                _apply_tree(catalog, journal, actions, plan)
            record = {"tree": journal.steps if journal else [], "catalog": before,
                      "root": str(root) if root else None, "actions": len(actions)}
            with catalog.transaction() as conn:
                conn.execute("UPDATE operations SET status = 'applied', journal = ?, "
                             "applied_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
                             (json.dumps(record, sort_keys=True, default=str), op_id))
        except BaseException:
            if journal is not None:
                tree.undo_steps(root, journal.steps)
            with catalog.transaction() as conn:
                _restore_catalog(conn, before)
            raise
    finally:
        catalog.release_writer_lock()
    return {"operation_id": op_id, "command": plan["command"], "actions": len(actions),
            "moved": sum(1 for s in (journal.steps if journal else []) if s["op"] == "move"),
            "written": sum(1 for s in (journal.steps if journal else []) if s["op"] == "write"),
            "created_people": created}


TREE_REQUIRED = {"drop_crop", "quarantine_faceset"}   # era sets are written only where a tree exists


def _check_fresh(root: Path | None, actions: list[dict]) -> None:
    """Refuse a stale plan before touching anything: every crop it names is still as it was."""
    for action in actions:
        if action["type"] == "drop_crop":
            path = root / action["faceset"] / action["file"]
            if not path.is_file() or (action.get("sha256") and tree.sha256_file(path) != action["sha256"]):
                raise CurationError(f"plan is stale: {action['faceset']}/{action['file']} changed; run analyze again")
        elif action["type"] == "quarantine_faceset" and not (root / action["faceset"]).is_dir():
            raise CurationError(f"plan is stale: faceset {action['faceset']} is gone; run analyze again")


def _check_people(catalog: Catalog, actions: list[dict]) -> None:
    """Refuse a plan whose people changed since analyze (merged away, faces moved)."""
    conn = catalog.conn
    for action in actions:
        if action["type"] == "merge_people":
            for person in [action["into"], *action["sources"]]:
                row = conn.execute("SELECT merged_into FROM people WHERE id = ?", (person,)).fetchone()
                if row is None or row[0] is not None:
                    raise CurationError(f"plan is stale: person {person} was merged since; run analyze again")
        elif action["type"] in ("create_era", "extend_era"):
            allowed = {action.get("parent", action.get("person"))} if action["type"] == "create_era" else None
            for face in action["faces"]:
                row = conn.execute("SELECT person_id FROM faces WHERE id = ?", (face,)).fetchone()
                owner = row[0] if row else -1
                if action["type"] == "create_era" and owner not in allowed | {None}:
                    raise CurationError(f"plan is stale: face {face} moved to person {owner}; run analyze again")
                if action["type"] == "extend_era":
                    parent = conn.execute("SELECT parent_id FROM people WHERE id = ?", (action["person"],)).fetchone()
                    if parent is None or owner != parent[0]:
                        raise CurationError(f"plan is stale: face {face} is no longer the person's; run analyze again")


def _apply_tree(catalog: Catalog, journal: tree.TreeJournal, actions: list[dict], plan: dict) -> None:
    facesets = {f.label: f for f in tree.load_facesets(journal.root, catalog)}
    quarantined = {a["faceset"]: a for a in actions if a["type"] == "quarantine_faceset"}
    dropped: dict[str, set[str]] = {}
    lists: dict[str, list] = {"masked": [], "merged": [], "thin": []}
    for action in actions:
        if action["type"] == "drop_crop" and action["faceset"] not in quarantined:
            if journal.move(f"{action['faceset']}/{action['file']}", action.get("to", "_dropped")):
                dropped.setdefault(action["faceset"], set()).add(action["file"])
    counts = {}
    for label, files in sorted(dropped.items()):
        faceset = facesets.get(label)
        if faceset is not None:
            keep = [c for c in faceset.crops if c.file not in files]
            tree.rewrite_faceset(journal, faceset, keep, {"curated_by": plan["command"]})
            counts[label] = len(keep)
    for action in actions:   # merged people's crops join the primary's faceset before they leave
        if action["type"] == "merge_people" and action.get("into_folder") in facesets:
            additions = [(facesets[f].folder / c.file, c.entry) for f in action.get("source_folders", [])
                         if f in facesets for c in facesets[f].crops]
            if additions:
                counts[action["into_folder"]] = tree.append_crops(journal, action["into_folder"], additions)
    for label, action in sorted(quarantined.items()):
        moved = tree.quarantine_faceset(journal, label, action["to"])
        entry = {"faceset": label, "moved_to": moved, "reason": action.get("reason"),
                 "person_id": action.get("person_id"), "operation": journal.operation_id}
        entry.update(action.get("manifest", {}))
        lists[action.get("list", action["to"].strip("_"))].append(entry)
    from facesets.curate.age_split import extend_era_sets, write_era_sets
    eras = [a for a in actions if a["type"] == "create_era"]
    if eras:
        lists["thin"] += write_era_sets(journal, facesets, eras)
    extended = [a for a in actions if a["type"] == "extend_era"]
    if extended:
        extend_era_sets(journal, facesets, extended)
    if journal.steps or any(lists.values()) or actions:
        tree.update_top_manifest(journal, lists, {**plan["provenance"], "operation": journal.operation_id,
                                                  "applied_at": now(), "summary": plan.get("summary", {})}, counts)


def _touched(actions: list[dict]) -> tuple[set[int], set[int]]:
    people: set[int] = set()
    faces: set[int] = set()
    for action in actions:
        if action["type"] == "merge_people":
            people |= {int(action["into"]), *map(int, action["sources"])}
        elif action["type"] == "set_status":
            people.add(int(action["person"]))
        elif action["type"] == "create_era":
            people.add(int(action["parent"]))
            faces |= set(map(int, action["faces"]))
        elif action["type"] == "extend_era":
            people.add(int(action["person"]))
            faces |= set(map(int, action["faces"]))
    return people, faces


def _snapshot(catalog: Catalog, actions: list[dict]) -> dict:
    """The catalog rows an apply may change, as they are now."""
    people, faces = _touched(actions)
    conn = catalog.conn
    marks = lambda xs: ",".join("?" * len(xs))  # noqa: E731
    rows = []
    if people:
        rows = conn.execute(f"SELECT * FROM people WHERE id IN ({marks(people)}) OR merged_into IN ({marks(people)})",
                            (*people, *people)).fetchall()
    face_rows = []
    if people or faces:
        face_rows = conn.execute(
            f"SELECT id, {', '.join(FACE_COLUMNS)} FROM faces WHERE person_id IN ({marks(people) or 'NULL'}) "
            f"OR id IN ({marks(faces) or 'NULL'})", (*people, *faces)).fetchall()
    return {"people_before": [dict(r) for r in rows], "faces_before": [dict(r) for r in face_rows]}


def _apply_catalog(conn, actions: list[dict]) -> list[int]:
    from facesets.people import assign_faces, create_person, merge_people

    created = []
    for action in actions:
        if action["type"] == "merge_people":
            merge_people(conn, action["sources"], action["into"], by=CURATE)
        elif action["type"] == "set_status":
            conn.execute("UPDATE people SET status = ? WHERE id = ?", (action["status"], action["person"]))
        elif action["type"] == "create_era":
            person = create_person(conn, name=action.get("name"), parent_id=action["parent"], era=action["era"])
            conn.execute("UPDATE people SET status = ?, faceset = ? WHERE id = ?",
                         ("thin" if action.get("thin") else "active", 0 if action.get("thin") else 1, person))
            assign_faces(conn, action["faces"], person, CURATE)
            action["person"] = person
            created.append(person)
        elif action["type"] == "extend_era":
            assign_faces(conn, action["faces"], action["person"], CURATE)
    return created


# -- undo --------------------------------------------------------------------------------

def _restore_catalog(conn, before: dict) -> None:
    """Put back the rows a snapshot saved; people apply created go (their numbers stay used)."""
    for face in before["faces_before"]:
        conn.execute(f"UPDATE faces SET {', '.join(f'{c} = ?' for c in FACE_COLUMNS)} WHERE id = ?",
                     (*(face[c] for c in FACE_COLUMNS), face["id"]))
    for person in before["people_before"]:
        columns = [c for c in person if c != "id"]
        conn.execute(f"UPDATE people SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                     (*(person[c] for c in columns), person["id"]))
    for person in before.get("created_people", []):
        conn.execute("UPDATE faces SET person_id = NULL WHERE person_id = ?", (person,))
        conn.execute("DELETE FROM people WHERE id = ?", (person,))


def undo(catalog: Catalog) -> dict:
    """Revert the last applied plan exactly: files moved back, catalog rows restored."""
    row = catalog.conn.execute("SELECT * FROM operations WHERE status = 'applied' "
                               "ORDER BY applied_at DESC, id DESC LIMIT 1").fetchone()
    if row is None:
        raise CurationError("nothing to undo: no applied curation plan in this catalog")
    record = json.loads(row["journal"])
    catalog.acquire_writer_lock(f"curate undo {row['command']}")
    try:
        if record.get("root") and record["tree"]:
            tree.check_undo(Path(record["root"]), record["tree"])
            tree.undo_steps(Path(record["root"]), record["tree"])
        with catalog.transaction() as conn:
            _restore_catalog(conn, record["catalog"])
            conn.execute("UPDATE operations SET status = 'undone', "
                         "undone_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?", (row["id"],))
    finally:
        catalog.release_writer_lock()
    return {"operation_id": int(row["id"]), "command": row["command"], "steps": len(record["tree"])}


def priority_key(person: dict) -> tuple:
    """Who wins when people compete: user-named or pinned first, then the largest, then the oldest."""
    return (0 if (person.get("name") or person.get("pinned")) else 1, -int(person.get("n_faces") or 0), int(person["id"]))


def require_root(catalog: Catalog, override=None) -> Path:
    root = tree.export_root(catalog, override)
    if root is None or not root.is_dir():
        raise CurationError("no export tree found: run `facesets export` first or pass --export-root")
    return root


__all__ = ["CurationError", "Proposal", "analyze", "apply", "undo", "load_plan", "priority_key",
           "require_root", "CatalogError"]
