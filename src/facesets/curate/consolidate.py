"""`facesets consolidate`: people who are the same identity, by complete-linkage clustering of
person centroids.

Complete linkage: a group's *every* pair of centroids is within the cut, so one in-between person
cannot chain two different identities together (single linkage does, and must not be used).
The profile gives two cuts (cosine distance): the tighter of `consolidate_edge` and
`consolidate_confident` marks confident groups, the looser bounds uncertain ones, which apply only
with --include-uncertain. Era sets (people with a parent) are families already and take no part.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from facesets.catalog import AssignedBy, Catalog, Person, PersonStatus, priority_key
from facesets.curate import tree
from facesets.curate.actions import ActionType, TreeContext, register
from facesets.curate.core import CurationError, Proposal, profile_of
from facesets.curate.near import groups_of, near_pairs
from facesets.curate.tree import load_facesets

MERGE_ORDER = 20   # after drops; before quarantines move the merged people's facesets away


def candidates(catalog: Catalog) -> dict[int, Person]:
    """People consolidate may merge: active, holding faces, not era sets; by number."""
    return {p.id: p for p in catalog.people.active(top_level_only=True, status=PersonStatus.ACTIVE)}


def complete_groups(centroids: np.ndarray, cut: float, apart: set[tuple[int, int]] = frozenset()) -> list[list[int]]:
    """Index groups (>= 2 members) whose every pairwise cosine distance is <= cut, never holding
    both of a pair in `apart` (index pairs the user kept apart: their distance counts as 2).

    A complete-linkage group at `cut` is a clique of the graph of pairs within `cut`, so it lies
    inside one connected component of that graph: linkage runs per component (found by range
    search), never on an all-people distance matrix."""
    from scipy.cluster.hierarchy import fcluster, linkage   # scipy here: the CLI starts 0.25 s sooner
    from scipy.spatial.distance import pdist, squareform

    groups: list[list[int]] = []
    for component in groups_of(len(centroids), near_pairs(centroids, 1.0 - cut)):
        sub = centroids[component]
        distances = np.clip(pdist(sub, "cosine"), 0, 2)
        where = {index: i for i, index in enumerate(component)}
        kept_apart = [(where[a], where[b]) for a, b in apart if a in where and b in where]
        if kept_apart:
            square = squareform(distances)
            for i, j in kept_apart:
                square[i, j] = square[j, i] = 2.0
            distances = squareform(square, checks=False)
        labels = fcluster(linkage(distances, method="complete"), t=cut, criterion="distance")
        found: dict[int, list[int]] = {}
        for index, cluster in zip(component, labels):
            found.setdefault(int(cluster), []).append(index)
        groups += [sorted(g) for g in found.values() if len(g) > 1]
    return sorted(groups)


def merge_groups(ids: np.ndarray, centroids: np.ndarray, tight: float, loose: float,
                 apart: set[tuple[int, int]] = frozenset()) -> list[tuple[list[int], float, bool]]:
    """(member ids, diameter, confident) of every group of people (`ids`, their `centroids`)
    all within `loose` of each other, never two the user kept apart (`apart`: (a, b) ids, a <
    b); confident when the diameter (largest centroid distance) is within `tight` as well."""
    position = {int(p): i for i, p in enumerate(ids)}
    pairs = {(min(position[a], position[b]), max(position[a], position[b]))
             for a, b in apart if a in position and b in position}
    found = []
    for members in complete_groups(centroids, loose, pairs):
        sub = centroids[members]
        diameter = float(np.max(1 - sub @ sub.T))
        found.append(([int(ids[m]) for m in members], diameter, diameter <= tight + 1e-9))
    return found


def analyze(catalog: Catalog, root, *, edge: float | None = None, confident: float | None = None) -> Proposal:
    """Plan merges of people who are one identity: groups whose person centroids are all within
    the looser of `edge` and `confident` (cosine distances; None: the profile's consolidate_edge
    and consolidate_confident) of each other; groups within the tighter cut are confident, the
    others uncertain (applied only with include_uncertain). `root`: the export tree (None: none)."""
    profile = profile_of(catalog)
    edge = profile.consolidate_edge if edge is None else edge
    confident = profile.consolidate_confident if confident is None else confident
    tight, loose = sorted((edge, confident))
    people = candidates(catalog)
    ids, centroids = catalog.people.centroids(list(people), gated=True)
    exported = {f.person_id: f for f in load_facesets(root, catalog)}
    groups, actions = [], []
    for member_ids, diameter, confident_group in merge_groups(ids, centroids, tight, loose,
                                                              catalog.people.apart_pairs()):
        ordered = sorted((people[p] for p in member_ids), key=priority_key)
        primary, secondaries = ordered[0], ordered[1:]
        uncertain = not confident_group
        actions.append({"type": "merge_people", "into": primary.id, "sources": [p.id for p in secondaries],
                        "uncertain": uncertain,
                        # the secondaries' crops join the primary's exported faceset (if it has one)
                        "into_folder": exported[primary.id].label if primary.id in exported else None,
                        "source_folders": [exported[p.id].label for p in secondaries if p.id in exported]})
        for person in secondaries:
            if person.id in exported:
                actions.append({"type": "quarantine_faceset", "faceset": exported[person.id].label, "to": "_merged",
                                "list": "merged", "person_id": person.id, "uncertain": uncertain,
                                "reason": f"same identity as {primary.label}",
                                "manifest": {"into": exported[primary.id].label if primary.id in exported
                                             else primary.label, "into_person_id": primary.id}})
        groups.append({
            "kind": "merge", "confident": confident_group, "diameter": round(diameter, 4),
            "primary": primary.id, "members": member_ids,
            "title": f"{'confident' if confident_group else 'uncertain'} merge into {primary.label} "
                     f"(max centroid distance {diameter:.3f})",
            "items": [_item(catalog, exported, p, p is primary) for p in ordered]})
    merged = [a for a in actions if a["type"] == "merge_people"]
    return Proposal(groups=groups, actions=actions, summary={
        "people": len(people), "groups": len(groups),
        "confident_groups": sum(1 for a in merged if not a["uncertain"]),
        "uncertain_groups": sum(1 for a in merged if a["uncertain"]),
        "edge": tight, "confident": loose})


def _item(catalog: Catalog, exported: dict, person: Person, primary: bool) -> dict:
    faceset = exported.get(person.id)
    image = str(faceset.folder / faceset.crops[0].file) if faceset and faceset.crops else None
    if image is None:
        image = catalog.faces.best_photo(person.id)
    named = " named" if person.name else (" pinned" if person.pinned else "")
    return {"image": image, "mark": "keep" if primary else "",
            "caption": f"{'PRIMARY ' if primary else ''}{person.label} #{person.id}{named}, {person.n_faces} faces"}


# -- the merge_people action ---------------------------------------------------------------

def _check_merge(catalog: Catalog, root: Path | None, action: dict) -> None:
    """Nobody in the group was merged away since analyze."""
    for person in [action["into"], *action["sources"]]:
        found = catalog.people.get(person)
        if found is None or found.merged_into is not None:
            raise CurationError(f"plan is stale: person {person} was merged since; run analyze again")


def _merge(catalog: Catalog, action: dict) -> None:
    catalog.people.merge(action["sources"], action["into"], by=AssignedBy.CURATE)


def _join_crops(context: TreeContext, actions: list[dict]) -> None:
    """The merged people's crops join the primary's faceset before their facesets leave."""
    facesets = context.facesets
    for action in actions:
        if action.get("into_folder") in facesets:
            additions = [(facesets[f].folder / c.file, c.entry) for f in action.get("source_folders", [])
                         if f in facesets for c in facesets[f].crops]
            if additions:
                context.counts[action["into_folder"]] = tree.append_crops(context.journal, action["into_folder"],
                                                                          additions)


MERGE_PEOPLE = register(ActionType(
    "merge_people", check=_check_merge, touched=lambda a: ({a["into"], *a["sources"]}, ()),
    apply_catalog=_merge, apply_tree=_join_crops, tree_order=MERGE_ORDER))
