"""Clustering ideas tried for facesets' default (issue 20) and kept as benchmark candidates, each
with the `fit` shape of facesets.cluster: Infomap on the kNN graph, FC-ES-style edge
probabilities from neighbour overlap, a density-adaptive cut and k-reciprocal re-ranking. None
of them raised the worst case over the compositions (docs/profiles.md); they stay here so
`cluster_robustness.py` measures them against the default. Infomap needs `pip install infomap`
(GPL-3, ~85 MB installed; not a facesets dependency): without it that candidate is left out."""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from facesets.cluster.algorithms import (GraphAverageLinkage, _cosine_block, _normalise, _relabel,
                                         split_cannot_link)
from facesets.cluster.graph import knn


def _edges(idx: np.ndarray, dist: np.ndarray, distance: float):
    rows = np.repeat(np.arange(len(idx)), idx.shape[1])
    keep = (idx.ravel() >= 0) & (dist.ravel() < distance)
    return rows[keep], idx.ravel()[keep], dist.ravel()[keep]


@dataclass
class InfomapKNN:
    """face-cluster-by-infomap: Infomap (two-level, undirected) on the kNN pairs closer than
    `distance`, weighted by cosine similarity; same-photo faces split apart afterwards."""

    distance: float = 0.06
    k: int = 30
    labels_: np.ndarray | None = None

    def fit(self, X, groups=None) -> "InfomapKNN":
        import infomap

        X = _normalise(X)
        n = len(X)
        idx, dist = knn(X, min(self.k, max(1, n - 1)))
        network = infomap.Infomap(two_level=True, silent=True, num_trials=3, seed=1)
        network.add_nodes(range(n))
        for a, b, d in zip(*(v.tolist() for v in _edges(idx, dist, self.distance))):
            network.add_link(a, b, 1.0 - d)
        network.run()
        labels = np.full(n, -1, np.int64)
        for node, module in network.get_modules().items():
            labels[node] = module
        self.labels_ = _relabel(split_cannot_link(X, labels, groups))
        return self


@dataclass
class NeighbourOverlapEdges:
    """FC-ES-style: each face keeps its neighbours closer than `distance` (an early-stopped
    neighbour list, so its length follows the local density); a pair is linked when it is in
    such a list and the Jaccard overlap of the two lists (selves included) is at least
    `overlap`; people are the connected components, same-photo faces split apart."""

    distance: float = 0.07
    overlap: float = 0.3
    k: int = 30
    labels_: np.ndarray | None = None

    def fit(self, X, groups=None) -> "NeighbourOverlapEdges":
        X = _normalise(X)
        n = len(X)
        idx, dist = knn(X, min(self.k, max(1, n - 1)))
        rows, cols, _ = _edges(idx, dist, self.distance)
        selves = np.arange(n)
        member = sparse.csr_matrix((np.ones(len(rows) + n), (np.r_[rows, selves], np.r_[cols, selves])),
                                   shape=(n, n))
        sizes = np.asarray(member.sum(axis=1)).ravel()
        shared = np.asarray(member[rows].multiply(member[cols]).sum(axis=1)).ravel()
        keep = shared / (sizes[rows] + sizes[cols] - shared) >= self.overlap
        graph = sparse.csr_matrix((np.ones(keep.sum()), (rows[keep], cols[keep])), shape=(n, n))
        labels = connected_components(graph, directed=False)[1].astype(np.int64)
        self.labels_ = _relabel(split_cannot_link(X, labels, groups))
        return self


@dataclass
class DensityAdaptive(GraphAverageLinkage):
    """The default with a per-face density term: a pair's distance grows by
    `density` x (reference - mean distance of the two faces to their `rho_k`-th neighbour) where
    faces are crowded, so the cut tightens there."""

    density: float = 0.25
    rho_k: int = 20
    rho_reference: float = 0.09

    def fit(self, X, groups=None, progress=None) -> "DensityAdaptive":
        _, dist = knn(_normalise(X), min(self.rho_k, max(1, len(X) - 1)))
        last = dist[:, -1]
        self._rho = np.where(np.isfinite(last), last, self.rho_reference)
        return super().fit(X, groups, progress)

    def _distances(self, X, neighbours, members):
        block = super()._distances(X, neighbours, members)
        rho = self._rho[members]
        block = block + self.density * np.maximum(0.0, self.rho_reference - (rho[:, None] + rho[None, :]) / 2)
        np.fill_diagonal(block, 0.0)
        return block


@dataclass
class ReciprocalReranking(GraphAverageLinkage):
    """The default with k-reciprocal neighbour sets (re-identification's re-ranking, Zhong et al.
    2017) in place of plain neighbour sets in the overlap blended into the distance."""

    reciprocal_k: int = 20

    def fit(self, X, groups=None, progress=None) -> "ReciprocalReranking":
        n = len(X)
        idx, _ = knn(_normalise(X), min(self.reciprocal_k, max(1, n - 1)))
        rows = np.repeat(np.arange(n), idx.shape[1])
        ok = idx.ravel() >= 0
        A = sparse.csr_matrix((np.ones(ok.sum()), (rows[ok], idx.ravel()[ok])), shape=(n, n))
        self._mutual = (A.multiply(A.T) + sparse.identity(n)).tocsr()
        return super().fit(X, groups, progress)

    def _distances(self, X, neighbours, members):
        sets = self._mutual[members]
        inter = (sets @ sets.T).toarray()
        sizes = np.asarray(sets.sum(axis=1)).ravel()
        jaccard = 1.0 - inter / np.maximum(sizes[:, None] + sizes[None, :] - inter, 1)
        scale = self.context_scale or self.distance * 4 / 3
        block = (1 - self.context) * _cosine_block(X) + self.context * scale * jaccard
        np.fill_diagonal(block, 0.0)
        return block


def candidate_grids(profile, distances: list[float]) -> dict:
    """name -> (class, parameter grid), tuned on the calibration composition like the baselines."""
    near = [d for d in distances if 0.6 * profile.cluster_distance <= d <= 1.15 * profile.cluster_distance]
    grids = {
        "infomap": (InfomapKNN, [{"distance": d, "k": k} for d in near for k in (10, 30)]),
        "fc-es overlap": (NeighbourOverlapEdges, [{"distance": d, "overlap": o} for d in near
                                                  for o in (0.2, 0.35, 0.5)]),
        # the last two change facesets' previous default (one cut, no stranger rule); on top of
        # the current one they are in docs/profiles.md
        "density cut": (DensityAdaptive, [{"distance": d, "density": b, "context": 0.3}
                                          for d in near for b in (0.25, 0.5)]),
        "re-ranking": (ReciprocalReranking, [{"distance": d, "context": c} for d in near
                                             for c in (0.15, 0.3)]),
    }
    if importlib.util.find_spec("infomap") is None:
        print("infomap is not installed (pip install infomap): that candidate is left out", file=sys.stderr)
        del grids["infomap"]
    return grids
