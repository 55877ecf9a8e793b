"""From cluster labels to people rows, keeping numbers and user decisions.

A new clustering never renumbers: each cluster inherits the existing person that already
holds most of its faces (each person claimed once, biggest overlap first); only clusters that
claim nobody found new people, numbered after every person there ever was. Faces the user
placed or imported stay where they are; a face the user removed from a person never rejoins it.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..catalog import Catalog
from .graph import label_groups


def people_from_labels(catalog: Catalog, ids: np.ndarray, labels: np.ndarray, current: np.ndarray,
                       kept: np.ndarray, run_id: int, by: str = "cluster", min_size: int = 2) -> dict:
    """Write a clustering into people rows; returns counts. Clusters smaller than `min_size`
    leave their faces unassigned (singletons)."""
    excluded = catalog.people.exclusions_of(ids.tolist())
    free = ~kept
    chosen = np.flatnonzero(labels >= 0)
    every = {int(labels[chosen[group[0]]]): chosen[group] for group in label_groups(labels[chosen])}
    clusters = {label: members[free[members]] for label, members in every.items() if free[members].any()}
    # claims: (overlap, cluster) -> existing person; biggest overlaps first. Kept faces claim
    # too: a cluster around a face named by hand, an import or an XMP region joins that person.
    claims = []
    for label, members in clusters.items():
        holders = current[every[label]]
        for person, overlap in Counter(holders[holders >= 0].tolist()).items():
            claims.append((overlap, len(members), label, person))
    claims.sort(key=lambda c: (-c[0], -c[1], c[2], c[3]))
    alive = catalog.people.alive_ids()
    owner: dict[int, int] = {}
    taken: set[int] = set()
    for _, _, label, person in claims:
        if label not in owner and person not in taken and person in alive:
            owner[label] = person
            taken.add(person)
    created = assigned = singles = 0
    repo = catalog.people
    placements: list[tuple[int, int | None]] = []   # written in one go (one pass over the faces)
    with catalog.transaction():
        for label in sorted(clusters, key=lambda l: int(clusters[l][0])):
            members = clusters[label]
            person = owner.get(label)
            if person is None and len(members) >= min_size:
                person = repo.create(run_id=run_id)
                created += 1
            face_ids = ids[members].tolist()
            if person is None:
                placements += [(f, None) for f in face_ids]
                singles += len(face_ids)
                continue
            ok = [f for f in face_ids if (f, person) not in excluded]
            placements += [(f, person if (f, person) not in excluded else None) for f in face_ids]
            assigned += len(ok)
            repo.set_cluster_run(person, run_id)
        # faces outside every cluster (noise) are unassigned too
        noise = ids[free & (labels < 0)].tolist()
        placements += [(f, None) for f in noise]
        repo.place(placements, by, run_id)
        catalog.faces.set_clustered_run(ids[kept].tolist(), run_id)
    return {"people_created": created, "faces_assigned": assigned, "unassigned": singles + len(noise),
            "kept_user_faces": int(kept.sum())}

