"""The action-type registry: every pass's types are known once `facesets.curate` is imported,
core applies a type it has never heard of through its hooks alone (check, touched for the undo
snapshot, catalog change, tree change), a failing tree step reverts the catalog too, and the
curate modules import each other without a cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import facesets.curate
from facesets.catalog import Catalog
from facesets.curate import CurationError, Proposal, analyze, apply, undo
from facesets.curate.actions import ActionType, TreeContext, find, register, tree_phases

CURATE = Path(facesets.curate.__file__).parent


def test_every_pass_type_is_registered_and_tree_phases_keep_their_order():
    for name in ("drop_crop", "quarantine_faceset", "merge_people", "set_status", "create_era", "extend_era"):
        assert find(name) is not None, name
    order = [t.name for t in tree_phases() if t.name in
             ("drop_crop", "merge_people", "quarantine_faceset", "create_era", "extend_era")]
    # drops, then the merged people's crops join the primary's faceset, then facesets leave, then eras
    assert order == ["drop_crop", "merge_people", "quarantine_faceset", "create_era", "extend_era"]
    assert {t.name for t in tree_phases()} >= set(order) and find("set_status").apply_tree is None
    assert find("drop_crop").needs_tree and not find("merge_people").needs_tree
    with pytest.raises(ValueError, match="twice"):
        register(ActionType("drop_crop"))


def _rename(catalog, action):
    catalog.people.rename(action["person"], action["name"])


def _refuse_unnamed(catalog, root, action):
    if catalog.people.get(action["person"]).name != action["expect"]:
        raise CurationError("plan is stale: the person was renamed since")


def _write_then_fail(context: TreeContext, actions):
    context.journal.write("note.txt", b"written before the failure")
    raise OSError("disk full")


RENAME = register(ActionType("test_rename", check=_refuse_unnamed, touched=lambda a: ({a["person"]}, ()),
                             apply_catalog=_rename))
RENAME_THEN_FAIL = register(ActionType("test_rename_then_fail", touched=lambda a: ({a["person"]}, ()),
                                       apply_catalog=_rename, apply_tree=_write_then_fail, tree_order=99))


@pytest.fixture
def catalog(tmp_path):
    with Catalog.open(tmp_path / "catalog.db") as cat:
        yield cat


def _plan(catalog, *actions, root=None) -> int:
    return analyze(catalog, "test", {}, lambda: Proposal(actions=list(actions)), root=root)["operation_id"]


def test_core_applies_and_undoes_a_type_through_its_hooks_alone(catalog):
    person = catalog.people.create(name="Ada")
    before = catalog.people.snapshot([person])
    stale = _plan(catalog, {"type": "test_rename", "person": person, "name": "Grace", "expect": "Bob"})
    with pytest.raises(CurationError, match="stale"):
        apply(catalog, stale)
    assert catalog.people.snapshot([person]) == before and catalog.operations.get(stale).status == "planned"

    op = _plan(catalog, {"type": "test_rename", "person": person, "name": "Grace", "expect": "Ada"})
    assert apply(catalog, op)["actions"] == 1
    assert catalog.people.get(person).name == "Grace" and catalog.operations.get(op).status == "applied"
    undo(catalog)
    assert catalog.people.snapshot([person]) == before and catalog.operations.get(op).status == "undone"


def test_unknown_type_is_refused_before_anything_changes(catalog):
    person = catalog.people.create(name="Ada")
    op = _plan(catalog, {"type": "test_rename", "person": person, "name": "Grace", "expect": "Ada"},
               {"type": "from_a_newer_facesets"})
    with pytest.raises(CurationError, match="unknown action type 'from_a_newer_facesets'"):
        apply(catalog, op)
    assert catalog.people.get(person).name == "Ada" and catalog.operations.get(op).status == "planned"


def test_a_failing_tree_step_reverts_the_tree_and_the_catalog(catalog, tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    person = catalog.people.create(name="Ada")
    before = catalog.people.snapshot([person])
    op = _plan(catalog, {"type": "test_rename_then_fail", "person": person, "name": "Grace"}, root=root)
    with pytest.raises(OSError, match="disk full"):
        apply(catalog, op)
    assert catalog.people.snapshot([person]) == before and catalog.operations.get(op).status == "planned"
    assert sorted(p.name for p in root.rglob("*")) == []
    assert not catalog.holds_writer_lock


def _curate_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.split(".")[2] for n in names if n.startswith("facesets.curate.") and n.count(".") >= 2}
    return found - {path.stem}


def test_curate_modules_import_each_other_without_a_cycle():
    graph = {p.stem: _curate_imports(p) & {q.stem for q in CURATE.glob("*.py")}
             for p in CURATE.glob("*.py") if p.stem != "__init__"}
    assert "age_split" not in graph["core"] and "core" in graph["age_split"]
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
