"""`--candidates`: one-face photos left out of every person, offered for review.

A photo whose single face is close to a faceset's centroid (profile.match_distance) and good
enough (composite >= profile.candidate_min_quality) goes to _candidates/to_<faceset>/; the rest
are clustered among themselves and groups of two or more go to _candidates/new_NNN/.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import outputs
from ..catalog import Catalog
from ..profiles import Profile


def write_candidates(catalog: Catalog, staging: Path, facesets, profile: Profile, params, link: str) -> dict:
    from ..cluster.params import default_algorithm

    rows = catalog.faces.candidates(profile.candidate_min_quality)
    placed: dict[str, list[str]] = {}
    if not rows:
        return placed
    E = np.stack([r.embedding for r in rows])
    leftovers = list(range(len(rows)))
    if facesets:
        centroids = np.stack([f.centroid for f in facesets])
        sims = E @ centroids.T
        best = sims.argmax(axis=1)
        leftovers = []
        for i, row in enumerate(rows):
            if 1.0 - sims[i, best[i]] <= profile.match_distance:
                folder = f"to_{facesets[best[i]].folder}"
                _put(staging, folder, row.path, link, placed)
            else:
                leftovers.append(i)
    if len(leftovers) >= 2:
        labels = default_algorithm(profile, params).fit(E[leftovers],
                                                         np.array([rows[i].file_id for i in leftovers])).labels_
        groups: dict[int, list[int]] = {}
        for i, label in zip(leftovers, labels):
            if label >= 0:
                groups.setdefault(int(label), []).append(i)
        number = 0
        for members in sorted((m for m in groups.values() if len(m) >= 2), key=lambda m: rows[m[0]].id):
            number += 1
            for i in members:
                _put(staging, f"new_{number:03d}", rows[i].path, link, placed)
    return placed


def _put(staging: Path, folder: str, source: str, link: str, placed: dict) -> None:
    name = outputs.stable_name(source)
    target = staging / "_candidates" / folder / name
    if not target.exists():
        outputs.materialise(source, target, link)
    placed.setdefault(folder, []).append(name)
