"""`facesets consolidate`: people who are the same identity, by complete-linkage clustering of
person centroids.

Complete linkage: a group's *every* pair of centroids is within the cut, so one in-between person
cannot chain two different identities together (single linkage does, and must not be used).
The profile gives two cuts (cosine distance): the tighter of `consolidate_edge` and
`consolidate_confident` marks confident groups, the looser bounds uncertain ones, which apply only
with --include-uncertain. Era sets (people with a parent) are families already and take no part.
"""
from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

from facesets.catalog import Catalog
from facesets.curate.core import Proposal, priority_key
from facesets.curate.near import groups_of, near_pairs
from facesets.curate.tree import load_facesets
from facesets.people import label, person_centroids


def candidates(catalog: Catalog) -> dict[int, dict]:
    rows = catalog.conn.execute(
        "SELECT people.*, COUNT(faces.id) AS n_faces FROM people JOIN faces ON faces.person_id = people.id "
        "WHERE people.merged_into IS NULL AND people.parent_id IS NULL AND people.status = 'active' "
        "GROUP BY people.id ORDER BY people.id").fetchall()
    return {int(r["id"]): {**dict(r), "label": label(r)} for r in rows}


def complete_groups(centroids: np.ndarray, cut: float) -> list[list[int]]:
    """Index groups (>= 2 members) whose every pairwise cosine distance is <= cut.

    A complete-linkage group at `cut` is a clique of the graph of pairs within `cut`, so it lies
    inside one connected component of that graph: linkage runs per component (found by range
    search), never on an all-people distance matrix."""
    groups: list[list[int]] = []
    for component in groups_of(len(centroids), near_pairs(centroids, 1.0 - cut)):
        sub = centroids[component]
        distances = np.clip(pdist(sub, "cosine"), 0, 2)
        labels = fcluster(linkage(distances, method="complete"), t=cut, criterion="distance")
        found: dict[int, list[int]] = {}
        for index, cluster in zip(component, labels):
            found.setdefault(int(cluster), []).append(index)
        groups += [sorted(g) for g in found.values() if len(g) > 1]
    return sorted(groups)


def analyze(catalog: Catalog, root, edge: float, confident: float) -> Proposal:
    tight, loose = sorted((edge, confident))
    people = candidates(catalog)
    ids, centroids = person_centroids(catalog, list(people), gated=True)
    exported = {f.person_id: f for f in load_facesets(root, catalog)}
    groups, actions = [], []
    for members in complete_groups(centroids, loose):
        member_ids = [int(ids[m]) for m in members]
        sub = centroids[members]
        diameter = float(np.max(1 - sub @ sub.T))
        confident_group = diameter <= tight + 1e-9
        ordered = sorted((people[p] for p in member_ids), key=priority_key)
        primary, secondaries = ordered[0], ordered[1:]
        uncertain = not confident_group
        actions.append({"type": "merge_people", "into": primary["id"], "sources": [p["id"] for p in secondaries],
                        "uncertain": uncertain,
                        # the secondaries' crops join the primary's exported faceset (if it has one)
                        "into_folder": exported[primary["id"]].label if primary["id"] in exported else None,
                        "source_folders": [exported[p["id"]].label for p in secondaries if p["id"] in exported]})
        for person in secondaries:
            if person["id"] in exported:
                actions.append({"type": "quarantine_faceset", "faceset": exported[person["id"]].label, "to": "_merged",
                                "list": "merged", "person_id": person["id"], "uncertain": uncertain,
                                "reason": f"same identity as {primary['label']}",
                                "manifest": {"into": exported[primary["id"]].label if primary["id"] in exported
                                             else primary["label"], "into_person_id": primary["id"]}})
        groups.append({
            "kind": "merge", "confident": confident_group, "diameter": round(diameter, 4),
            "primary": primary["id"], "members": member_ids,
            "title": f"{'confident' if confident_group else 'uncertain'} merge into {primary['label']} "
                     f"(max centroid distance {diameter:.3f})",
            "items": [_item(catalog, exported, p, p is primary) for p in ordered]})
    merged = [a for a in actions if a["type"] == "merge_people"]
    return Proposal(groups=groups, actions=actions, summary={
        "people": len(people), "groups": len(groups),
        "confident_groups": sum(1 for a in merged if not a["uncertain"]),
        "uncertain_groups": sum(1 for a in merged if a["uncertain"]),
        "edge": tight, "confident": loose})


def _item(catalog: Catalog, exported: dict, person: dict, primary: bool) -> dict:
    faceset = exported.get(person["id"])
    image = str(faceset.folder / faceset.crops[0].file) if faceset and faceset.crops else None
    if image is None:
        row = catalog.conn.execute("SELECT files.path FROM faces JOIN files ON files.id = faces.file_id "
                                   "WHERE faces.person_id = ? ORDER BY faces.quality DESC, faces.det_score DESC LIMIT 1",
                                   (person["id"],)).fetchone()
        image = row[0] if row else None
    named = " named" if person.get("name") else (" pinned" if person.get("pinned") else "")
    return {"image": image, "mark": "keep" if primary else "",
            "caption": f"{'PRIMARY ' if primary else ''}{person['label']} #{person['id']}{named}, {person['n_faces']} faces"}
