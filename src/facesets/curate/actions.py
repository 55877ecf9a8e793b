"""Action types: what each kind of plan action checks, touches and changes.

A pass proposes actions (dicts with a "type"); the module that owns a type registers an
`ActionType` for it, and `core.apply` runs the hooks of the plan's actions in this order:
1. `check(catalog, root, action)` for every action: refuse a stale plan before anything changes;
2. `touched(action)`: the people and faces whose rows the undo snapshot keeps;
3. `apply_catalog(catalog, action)` for every action in plan order, in one transaction
   (returns the id of a person it created, which undo deletes again);
4. `apply_tree(context, actions)` once per type, the types in `tree_order`, with all of the
   type's actions; a failure here reverts both the tree and the catalog.
Every hook is optional. `facesets.curate` imports every pass, so every type is registered
before a plan is applied.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facesets.catalog import Catalog
    from facesets.curate.tree import Faceset, TreeJournal


@dataclass
class TreeContext:
    """What the tree hooks of one apply share."""
    journal: TreeJournal
    facesets: dict[str, Faceset]     # the tree's facesets by label, as they were before this apply
    actions: list[dict]                # every action being applied, in plan order
    plan: dict
    lists: dict[str, list] = field(default_factory=lambda: {"masked": [], "merged": [], "thin": []})
    counts: dict[str, int] = field(default_factory=dict)   # faceset label -> crops it holds now

    def of_type(self, name: str) -> list[dict]:
        return [a for a in self.actions if a["type"] == name]


@dataclass(frozen=True)
class ActionType:
    name: str
    check: Callable[[Catalog, Path | None, dict], None] | None = None
    touched: Callable[[dict], tuple[Iterable[int], Iterable[int]]] | None = None   # (people, faces)
    apply_catalog: Callable[[Catalog, dict], int | None] | None = None
    apply_tree: Callable[[TreeContext, list[dict]], None] | None = None
    tree_order: int = 0
    needs_tree: bool = False     # a plan holding this type cannot apply without an export tree


_TYPES: dict[str, ActionType] = {}


def register(action_type: ActionType) -> ActionType:
    """Make a type known to `core.apply` (once per name)."""
    known = _TYPES.get(action_type.name)
    if known is not None and known != action_type:
        raise ValueError(f"action type {action_type.name} is registered twice")
    _TYPES[action_type.name] = action_type
    return action_type


def find(name: str) -> ActionType | None:
    return _TYPES.get(name)


def tree_phases() -> list[ActionType]:
    """The types that change the tree, in the order their changes are made."""
    return sorted((t for t in _TYPES.values() if t.apply_tree is not None), key=lambda t: (t.tree_order, t.name))
