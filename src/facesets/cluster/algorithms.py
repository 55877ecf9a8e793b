"""Identity clustering algorithms, all with scikit-learn's shape: parameters in the constructor,
`fit(X, groups=None)` sets `labels_` (-1: not clustered). `groups[i]` is the photo a face came from;
two faces of one photo are never given the same label (cannot-link).

`GraphAverageLinkage` is facesets' default; the others are the baselines the benchmark compares.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components

from .graph import edges_within, knn

EXACT_COMPONENT = 12_000   # exact average linkage on components up to this many faces


def _normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; already-normalised float32 input is used as is (no copy:
    at a million 512-d faces a copy is 2 GB)."""
    X = np.asarray(X, np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if len(X) and np.allclose(norms, 1.0, atol=1e-4):
        return X
    return X / np.maximum(norms, 1e-12)


def _cosine_block(X: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - X @ X.T, 0.0, 2.0).astype(np.float64)


def _cut_tree(block: np.ndarray, distance: float, method: str = "average") -> np.ndarray:
    """Exact hierarchical cut at `distance` of a small square distance block; labels from 0."""
    if len(block) == 1:
        return np.zeros(1, np.int64)
    tree = linkage(block[np.triu_indices(len(block), 1)], method=method)
    return fcluster(tree, t=distance, criterion="distance").astype(np.int64) - 1


def _average_linkage(X: np.ndarray, distance: float) -> np.ndarray:
    """Exact average-linkage cut at `distance` (cosine) for a small block; labels from 0."""
    return _cut_tree(_cosine_block(X), distance)


def neighbour_jaccard(neighbours: np.ndarray) -> np.ndarray:
    """Jaccard distance between the neighbour sets (self included) of a block of faces.

    Two photos of one person share most of their nearest neighbours even when the pair itself
    is far apart (pose, age); two look-alikes share few. This is the k-reciprocal re-ranking idea
    from re-identification, cut down to set overlap so it costs a sparse product."""
    m, k = neighbours.shape
    rows = np.repeat(np.arange(m), k)
    cols = neighbours.ravel()
    keep = cols >= 0
    _, cols = np.unique(cols[keep], return_inverse=True)
    A = sparse.csr_matrix((np.ones(keep.sum()), (rows[keep], cols)), shape=(m, cols.max() + 1))
    sizes = np.asarray(A.sum(axis=1)).ravel()
    inter = (A @ A.T).toarray()
    union = sizes[:, None] + sizes[None, :] - inter
    return 1.0 - inter / np.maximum(union, 1)


def split_cannot_link(X: np.ndarray, labels: np.ndarray, groups) -> np.ndarray:
    """Within every cluster, keep one face per photo (the closest to the centroid); the faces
    pushed out form a cluster of their own (split again if they still share a photo), so the
    second person of a group photo lands together rather than scattered into singletons."""
    if groups is None or len(labels) == 0:
        return labels
    labels = labels.copy()
    groups = np.asarray(groups)
    while True:
        next_label = labels.max() + 1
        changed = False
        order = np.argsort(labels, kind="stable")
        bounds = np.flatnonzero(np.diff(labels[order])) + 1
        for members in np.split(order, bounds):
            if len(members) < 2 or labels[members[0]] < 0:
                continue
            g = groups[members]
            if len(np.unique(g)) == len(g):
                continue
            centroid = _normalise(X[members].mean(axis=0, keepdims=True))[0]
            seen = set()
            for pos in np.argsort(-(X[members] @ centroid)):
                if g[pos] in seen:
                    labels[members[pos]] = next_label
                else:
                    seen.add(g[pos])
            next_label += 1
            changed = True
        if not changed:
            return labels


def merge_centroids(X: np.ndarray, labels: np.ndarray, distance: float, groups=None,
                    min_size: int = 1) -> np.ndarray:
    """Merge clusters whose centroids lie within `distance` (complete linkage over centroids, so
    no chains), unless the merge would put two faces of one photo together."""
    ids, inverse = np.unique(labels[labels >= 0], return_inverse=True)
    if len(ids) < 2:
        return labels
    members = labels >= 0
    sums = np.zeros((len(ids), X.shape[1]), np.float64)
    np.add.at(sums, inverse, X[members])
    sizes = np.bincount(inverse)
    big = np.flatnonzero(sizes >= min_size)
    if len(big) < 2:
        return labels
    centroids = _normalise(sums[big])
    merged = GraphAverageLinkage(distance=distance, k=30, method="complete", merge_distance=None,
                                 refine_rounds=0, context=0.0).fit(centroids).labels_
    mapping = {int(ids[b]): int(ids[big[np.flatnonzero(merged == merged[i])[0]]])
               for i, b in enumerate(big)}
    out = np.array([mapping.get(int(l), int(l)) for l in labels], np.int64)
    if groups is not None:  # undo merges that broke cannot-link: keep the larger side
        for target in set(mapping.values()):
            sources = [s for s, t in mapping.items() if t == target and s != target]
            if not sources:
                continue
            g_seen = set(np.asarray(groups)[labels == target].tolist())
            for s in sorted(sources, key=lambda s: -sizes[np.searchsorted(ids, s)]):
                g = set(np.asarray(groups)[labels == s].tolist())
                if g & g_seen:
                    out[labels == s] = s
                else:
                    g_seen |= g
    return out


@dataclass
class GraphAverageLinkage:
    """The default: a kNN graph cut at `distance` splits the faces into components (average
    linkage at `distance` can never join two of them), exact average linkage runs inside each
    component, same-photo faces are split apart, and over-split clusters whose centroids lie
    within `merge_distance` are joined. Memory O(n·k); components above EXACT_COMPONENT faces
    are first cut into pieces by a tighter graph so the exact step stays bounded."""

    distance: float = 0.075
    k: int = 30
    merge_distance: float | None = None
    method: str = "average"
    refine_rounds: int = 1
    context: float = 0.1          # weight of the neighbour-overlap distance
    context_k: int = 10           # neighbours per face in that overlap
    context_scale: float | None = None  # overlap distance scale; default: `distance` * 4/3
    labels_: np.ndarray | None = None

    def describe(self) -> str:
        merge = f", centroid merge {self.merge_distance}" if self.merge_distance else ""
        context = (f" on cosine blended {self.context:g} with {self.context_k}-neighbour overlap"
                   if self.context else "")
        return (f"kNN({self.k}) graph + {self.method} linkage at {self.distance}{context}{merge}, "
                "cannot-link")

    def fit(self, X, groups=None, progress=None) -> "GraphAverageLinkage":
        X = _normalise(X)
        n = len(X)
        if n == 0:
            self.labels_ = np.zeros(0, np.int64)
            return self
        idx, dist = knn(X, min(self.k, max(1, n - 1)), progress=progress)
        # a pair joins only if its blended distance is under `distance`, so only kNN pairs under
        # distance / (1 - context) can ever be joined: components of that graph are independent
        labels = self._cut(X, idx, dist, self.distance / (1.0 - self.context))
        labels = split_cannot_link(X, labels, groups)
        for _ in range(self.refine_rounds if self.merge_distance else 0):
            labels = merge_centroids(X, labels, self.merge_distance, groups)
        self.labels_ = _relabel(labels)
        return self

    def _cut(self, X, idx, dist, edge: float) -> np.ndarray:
        n = len(X)
        graph = edges_within(idx, dist, edge)
        n_comp, comp = connected_components(graph, directed=False)
        labels = np.full(n, -1, np.int64)
        next_label = 0
        order = np.argsort(comp, kind="stable")
        bounds = np.flatnonzero(np.diff(comp[order])) + 1
        for members in np.split(order, bounds):
            if len(members) == 1:
                sub = np.zeros(1, np.int64)
            elif len(members) <= EXACT_COMPONENT:
                sub = self._link(X[members], idx[members], members)
            else:  # a chained giant component: cut it with a tighter graph first
                sub_idx, sub_dist = _restrict(idx, dist, members)
                sub = self._cut(X[members], sub_idx, sub_dist, edge * 0.9)
            labels[members] = sub + next_label
            next_label += sub.max() + 1
        return labels

    def _link(self, X: np.ndarray, neighbours: np.ndarray, members: np.ndarray) -> np.ndarray:
        block = _cosine_block(X)
        if self.context:
            scale = self.context_scale or self.distance * 4 / 3
            sets = np.hstack([members[:, None], neighbours[:, : self.context_k]])  # self included
            block = (1 - self.context) * block + self.context * scale * neighbour_jaccard(sets)
            np.fill_diagonal(block, 0.0)
        return _cut_tree(block, self.distance, self.method)


def _restrict(idx, dist, members):
    """The kNN lists of `members`, re-indexed to positions within `members`."""
    position = np.full(idx.shape[0], -1, np.int64)
    position[members] = np.arange(len(members))
    sub_idx = np.where(idx[members] >= 0, position[np.maximum(idx[members], 0)], -1)
    sub_dist = np.where(sub_idx >= 0, dist[members], np.inf)
    return sub_idx, sub_dist


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. by first appearance; -1 kept."""
    out = np.full(len(labels), -1, np.int64)
    seen: dict[int, int] = {}
    for i, l in enumerate(labels.tolist()):
        if l >= 0:
            out[i] = seen.setdefault(l, len(seen))
    return out


@dataclass
class AverageLinkage:
    """Exact average-linkage agglomerative with a distance threshold (sort_faces.py's method).
    Holds the full N x N distance matrix."""

    distance: float = 0.075
    labels_: np.ndarray | None = None

    def fit(self, X, groups=None) -> "AverageLinkage":
        self.labels_ = _average_linkage(_normalise(X), self.distance)
        return self


@dataclass
class CosineDBSCAN:
    """DBSCAN with the cosine metric (the desktop sorter's method); noise is -1."""

    eps: float = 0.075
    min_samples: int = 2
    labels_: np.ndarray | None = None

    def fit(self, X, groups=None) -> "CosineDBSCAN":
        from sklearn.cluster import DBSCAN

        self.labels_ = DBSCAN(eps=self.eps, min_samples=self.min_samples, metric="cosine",
                              algorithm="brute").fit(_normalise(X)).labels_.astype(np.int64)
        return self


@dataclass
class ImmichIncremental:
    """Immich's face clustering rule, run face by face: a face's k = min_faces nearest
    neighbours within max_distance; it is core if it has >= min_faces of them. It joins the
    first neighbour's person, else the nearest person within max_distance, else founds a new
    person if core; non-core faces left over are retried once at the end. The "nearest person"
    search looks at the 64 nearest faces (Immich asks its vector index for the nearest face that
    has a person)."""

    max_distance: float = 0.075
    min_faces: int = 3
    labels_: np.ndarray | None = None

    def fit(self, X, groups=None) -> "ImmichIncremental":
        X = _normalise(X)
        n = len(X)
        wide_idx, wide_dist = knn(X, min(64, max(1, n - 1)))  # "nearest face that has a person"
        k = max(self.min_faces - 1, 1)                       # matches include the face itself
        labels = np.full(n, -1, np.int64)
        n_people = 0
        deferred: list[int] = []
        for attempt in range(2):
            queue = range(n) if attempt == 0 else deferred
            deferred = []
            for i in queue:
                close = wide_dist[i] <= self.max_distance
                near = wide_idx[i][close & (wide_idx[i] >= 0)]
                if self.min_faces > 1 and len(near) == 0:
                    continue
                core = len(near[:k]) + 1 >= self.min_faces
                person = next((labels[j] for j in near[:k] if labels[j] >= 0), -1)
                if person < 0:
                    person = next((labels[j] for j in near if labels[j] >= 0), -1)
                if person < 0 and core:
                    person, n_people = n_people, n_people + 1
                if person >= 0:
                    labels[i] = person
                elif attempt == 0:
                    deferred.append(i)
        self.labels_ = labels
        return self
