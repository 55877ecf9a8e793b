"""Complete linkage per connected component (range search) equals complete linkage over the
whole distance matrix, and never chains: every pair inside a group is within the cut."""
from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

from facesets.curate.consolidate import complete_groups


def _global(points: np.ndarray, cut: float) -> list[list[int]]:
    labels = fcluster(linkage(np.clip(pdist(points, "cosine"), 0, 2), method="complete"), t=cut, criterion="distance")
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def test_component_linkage_matches_global_and_never_chains():
    rng = np.random.default_rng(7)
    for _ in range(20):
        base = rng.normal(size=(30, 16))
        points = np.repeat(base, 3, axis=0) + rng.normal(scale=rng.uniform(0.1, 0.6), size=(90, 16))
        points = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
        cut = float(rng.uniform(0.05, 0.4))
        groups = complete_groups(points, cut)
        assert groups == _global(points, cut)
        for group in groups:
            sub = points[group]
            assert float(np.max(1 - sub @ sub.T)) <= cut + 1e-5


def test_a_chain_of_people_is_not_merged_end_to_end():
    # A - B - C on a line: A~B and B~C within the cut, A~C beyond it. Single linkage would
    # merge all three; complete linkage keeps A and C apart.
    angles = np.radians([0.0, 20.0, 40.0])
    points = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    cut = 1 - np.cos(np.radians(25.0))
    groups = complete_groups(points, float(cut))
    assert len(groups) == 1 and len(groups[0]) == 2
