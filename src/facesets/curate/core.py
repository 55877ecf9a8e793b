"""Plans, apply and undo: the one core every curation pass goes through.

A pass only *proposes*: it returns groups (for the review page) and actions. `analyze` stores the
plan in the catalog's operations (status planned) and writes its JSON and an HTML review page;
`apply` executes the actions through the hooks their types registered (see `actions`), recording
a journal of reversible steps (tree moves and writes, the catalog rows as they were before);
`undo` replays the journal of the last applied plan backwards.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facesets.config import VERSION
from facesets.catalog import Catalog, CatalogError, OperationStatus
from facesets.curate import tree
from facesets.curate.actions import ActionType, TreeContext, tree_phases
from facesets.curate.actions import find as find_type
from facesets.outputs import write_json
from facesets.profiles import Profile, profile_for

PLAN_FORMAT = "facesets-curation-plan/1"
log = logging.getLogger("facesets")


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


def profile_of(catalog: Catalog) -> Profile:
    """The thresholds of the catalog's embedding model: where every pass takes its defaults."""
    model = catalog.embedding_model()
    return profile_for(model.key if model else None)


def provenance(catalog: Catalog, command: str, params: dict) -> dict:
    model = catalog.embedding_model()
    return {"tool": "facesets", "version": VERSION, "command": command, "params": params,
            "engine": model.engine if model else None, "model": model.key if model else None,
            "profile": profile_of(catalog).as_dict(), "time": now(), "catalog": str(catalog.path)}


def analyze(catalog: Catalog, command: str, params: dict, run: Callable[[], Proposal],
            out: str | os.PathLike | None = None, html: str | os.PathLike | None = None,
            root: Path | None = None) -> dict:
    """Run a pass (`run`), store its plan (status planned) and return it with its
    `operation_id`; `out`: also write the plan JSON there and the review page beside it
    (or at `html`). `root`: the export tree the plan applies to."""
    proposal = run()
    plan = {"format": PLAN_FORMAT, "command": command, "params": params,
            "provenance": provenance(catalog, command, params), "catalog": str(catalog.path),
            "export_root": str(root) if root else None, "groups": proposal.groups,
            "actions": proposal.actions, "summary": proposal.summary}
    plan["operation_id"] = catalog.operations.add(command, plan)
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
    operation = catalog.operations.get(op_id) if op_id is not None else None
    if operation is None:
        raise CurationError(f"plan {op_id} is not in this catalog ({catalog.path})")
    if operation.status != OperationStatus.PLANNED:
        raise CurationError(f"plan {op_id} ({operation.command}) is already {operation.status}; run analyze again")
    return {**operation.plan, "operation_id": operation.id}


# -- apply -------------------------------------------------------------------------------

def apply(catalog: Catalog, plan: int | str | os.PathLike | dict, *, include_uncertain: bool = False) -> dict:
    """Execute a planned operation (by operation id, plan file or plan dict); every step is
    journaled so `undo` can revert it exactly. `include_uncertain`: also apply the actions
    analyze marked uncertain (consolidate's non-confident merges); off by default."""
    plan = load_plan(catalog, plan)
    op_id = plan["operation_id"]
    actions = [a for a in plan["actions"] if not a.get("uncertain") or include_uncertain]
    types = _types(actions)
    root = Path(plan["export_root"]) if plan.get("export_root") else None
    if any(types[a["type"]].needs_tree for a in actions) and (root is None or not root.is_dir()):
        raise CurationError(f"export tree {root} not found; export first or pass --export-root")
    for action in actions:   # refuse a stale plan before touching anything
        check = types[action["type"]].check
        if check is not None:
            check(catalog, root, action)
    with catalog.writer(f"curate apply {plan['command']}"):
        journal = tree.TreeJournal(root, op_id) if root is not None and root.is_dir() else None
        # catalog first (era people get their numbers, which their folders' manifests carry),
        # then the tree; a failure in the tree reverts both
        before = _snapshot(catalog, actions, types)
        created = []
        with catalog.transaction():
            for action in actions:
                change = types[action["type"]].apply_catalog
                person = change(catalog, action) if change is not None else None
                if person is not None:
                    created.append(person)
        before["created_people"] = created
        try:
            if journal is not None:
                _apply_tree(catalog, journal, actions, plan)
            record = {"tree": journal.steps if journal else [], "catalog": before,
                      "root": str(root) if root else None, "actions": len(actions)}
            catalog.operations.mark_applied(op_id, record)
        except BaseException:
            log.warning("curate apply %s failed; reverting the tree and the catalog", plan["command"])
            if journal is not None:
                tree.undo_steps(root, journal.steps)
            with catalog.transaction():
                _restore(catalog, before)
            raise
    steps = journal.steps if journal else []
    return {"operation_id": op_id, "command": plan["command"], "actions": len(actions),
            "moved": sum(1 for s in steps if s["op"] == "move"),
            "written": sum(1 for s in steps if s["op"] == "write"),
            "created_people": created}


def _types(actions: list[dict]) -> dict[str, ActionType]:
    """The registered type of every action in the plan (an unknown one refuses the plan)."""
    types = {}
    for action in actions:
        kind = find_type(action["type"])
        if kind is None:
            raise CurationError(f"plan holds an unknown action type {action['type']!r}; "
                                "was it made by a newer facesets?")
        types[kind.name] = kind
    return types


def _apply_tree(catalog: Catalog, journal: tree.TreeJournal, actions: list[dict], plan: dict) -> None:
    context = TreeContext(journal, {f.label: f for f in tree.load_facesets(journal.root, catalog)}, actions, plan)
    for kind in tree_phases():
        batch = context.of_type(kind.name)
        if batch:
            kind.apply_tree(context, batch)
    if journal.steps or any(context.lists.values()) or actions:
        tree.update_top_manifest(journal, context.lists, {**plan["provenance"], "operation": journal.operation_id,
                                                          "applied_at": now(), "summary": plan.get("summary", {})},
                                 context.counts)


def _snapshot(catalog: Catalog, actions: list[dict], types: dict[str, ActionType]) -> dict:
    """The catalog rows an apply may change, as they are now."""
    people: set[int] = set()
    faces: set[int] = set()
    for action in actions:
        touched = types[action["type"]].touched
        if touched is not None:
            more_people, more_faces = touched(action)
            people |= {int(p) for p in more_people}
            faces |= {int(f) for f in more_faces}
    return {"people_before": catalog.people.snapshot(people),
            "faces_before": catalog.faces.assignments(people, faces)}


def record_applied(catalog: Catalog, command: str, params: dict, root: Path | None, steps: list[dict],
                   before: dict | None = None, summary: dict | None = None) -> int:
    """Journal a change made outside a plan (`facesets tag`'s new sidecars, `facesets name`'s
    names) as an applied operation, so `facesets undo` reverts it like a plan: `steps` are
    TreeJournal steps under `root`, `before` the catalog rows as they were (a `_snapshot`)."""
    plan = {"format": PLAN_FORMAT, "command": command, "params": params,
            "provenance": provenance(catalog, command, params), "catalog": str(catalog.path),
            "export_root": None, "groups": [], "actions": [], "summary": summary or {}}
    op_id = catalog.operations.add(command, plan)
    catalog.operations.mark_applied(op_id, {
        "tree": steps, "root": str(root) if root is not None else None, "actions": len(steps),
        "catalog": before or {"people_before": [], "faces_before": [], "created_people": []}})
    return op_id


# -- undo --------------------------------------------------------------------------------

def _restore(catalog: Catalog, before: dict) -> None:
    """Put back the rows a snapshot saved; people apply created go (their numbers stay used)."""
    catalog.faces.restore_assignments(before["faces_before"])
    catalog.people.restore(before["people_before"])
    catalog.people.delete_created(before.get("created_people", []))


def undo(catalog: Catalog) -> dict:
    """Revert the last applied plan exactly: files moved back, catalog rows restored."""
    operation = catalog.operations.last_applied()
    if operation is None:
        raise CurationError("nothing to undo: no applied curation plan in this catalog")
    record = operation.journal
    with catalog.writer(f"curate undo {operation.command}"):
        if record.get("root") and record["tree"]:
            tree.check_undo(Path(record["root"]), record["tree"])
            tree.undo_steps(Path(record["root"]), record["tree"])
        with catalog.transaction():
            _restore(catalog, record["catalog"])
            catalog.operations.mark_undone(operation.id)
    return {"operation_id": operation.id, "command": operation.command, "steps": len(record["tree"])}


def require_root(catalog: Catalog, override=None) -> Path:
    root = tree.export_root(catalog, override)
    if root is None or not root.is_dir():
        raise CurationError("no export tree found: run `facesets export` first or pass --export-root")
    return root


__all__ = [
    "CatalogError",
    "CurationError",
    "Proposal",
    "analyze",
    "apply",
    "load_plan",
    "profile_of",
    "record_applied",
    "require_root",
    "undo",
]
