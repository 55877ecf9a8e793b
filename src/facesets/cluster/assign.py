"""From cluster labels to people rows, keeping numbers and user decisions.

A new clustering never renumbers: each cluster inherits the existing person that already
holds most of its faces (each person claimed once, biggest overlap first); only clusters that
claim nobody found new people, numbered after every person there ever was. Faces the user
placed or imported stay where they are; a face the user removed from a person never rejoins it.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .. import people
from ..catalog import Catalog


def load_faces(catalog: Catalog, where: str = "", params: tuple = ()):
    """(face ids, embeddings, photo ids, current person ids (-1: none), kept flags)."""
    ids, X = catalog.face_embeddings(where, params)
    if len(ids) == 0:
        return ids, X, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    meta = {r[0]: r for r in catalog.conn.execute(
        "SELECT id, file_id, person_id, assigned_by FROM faces")}
    files = np.array([meta[i][1] for i in ids.tolist()], np.int64)
    current = np.array([meta[i][2] if meta[i][2] is not None else -1 for i in ids.tolist()], np.int64)
    kept = np.array([meta[i][3] in people.KEPT_ASSIGNMENTS and meta[i][2] is not None
                     for i in ids.tolist()])
    return ids, X, files, current, kept


def people_from_labels(catalog: Catalog, ids: np.ndarray, labels: np.ndarray, current: np.ndarray,
                       kept: np.ndarray, run_id: int, by: str = "cluster", min_size: int = 2) -> dict:
    """Write a clustering into people rows; returns counts. Clusters smaller than `min_size`
    leave their faces unassigned (singletons)."""
    excluded = people.exclusions(catalog.conn)
    free = ~kept
    clusters: dict[int, np.ndarray] = {}
    for label in np.unique(labels[free & (labels >= 0)]):
        clusters[int(label)] = np.flatnonzero(free & (labels == label))
    # claims: (overlap, cluster) -> existing person; biggest overlaps first
    claims = []
    for label, members in clusters.items():
        for person, overlap in Counter(current[members][current[members] >= 0].tolist()).items():
            claims.append((overlap, len(members), label, person))
    claims.sort(key=lambda c: (-c[0], -c[1], c[2], c[3]))
    alive = {r[0] for r in catalog.conn.execute("SELECT id FROM people WHERE merged_into IS NULL")}
    owner: dict[int, int] = {}
    taken: set[int] = set()
    for _, _, label, person in claims:
        if label not in owner and person not in taken and person in alive:
            owner[label], taken = person, taken | {person}
    created = assigned = singles = 0
    with catalog.transaction() as conn:
        for label in sorted(clusters, key=lambda l: int(clusters[l][0])):
            members = clusters[label]
            person = owner.get(label)
            if person is None and len(members) >= min_size:
                person = people.create_person(conn, run_id=run_id)
                created += 1
            face_ids = ids[members].tolist()
            if person is None:
                people.assign_faces(conn, face_ids, None, by, run_id)
                singles += len(face_ids)
                continue
            ok = [f for f in face_ids if (f, person) not in excluded]
            people.assign_faces(conn, ok, person, by, run_id)
            people.assign_faces(conn, [f for f in face_ids if (f, person) in excluded], None, by, run_id)
            assigned += len(ok)
            conn.execute("UPDATE people SET cluster_run = ? WHERE id = ?", (run_id, person))
        # faces outside every cluster (noise) are unassigned too
        noise = ids[free & (labels < 0)].tolist()
        people.assign_faces(conn, noise, None, by, run_id)
        conn.executemany("UPDATE faces SET clustered_run = ? WHERE id = ?",
                         [(run_id, int(f)) for f in ids[kept].tolist()])
    return {"people_created": created, "faces_assigned": assigned, "unassigned": singles + len(noise),
            "kept_user_faces": int(kept.sum())}
