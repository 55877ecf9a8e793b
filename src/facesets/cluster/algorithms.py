"""facesets' identity clustering, with scikit-learn's shape: parameters in the constructor,
`fit(X, groups=None)` sets `labels_` (-1: not clustered). `groups[i]` is the photo a face came from;
two faces of one photo are never given the same label (cannot-link). The baselines it is
measured against are in `baselines.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage, maxRstat
from scipy.sparse.csgraph import connected_components

from .graph import edges_within, knn, knn_of, label_groups

EXACT_COMPONENT = 12_000   # exact average linkage on components up to this many faces
BLOCK = 65_536             # rows per step where a whole-matrix temporary would double the memory


def _normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; already-normalised float32 input is used as is (no copy:
    at a million 512-d faces a copy is 2 GB). Norms are taken a block of rows at a time, so
    no temporary of X's size is made either."""
    X = np.asarray(X, np.float32)
    norms = np.empty((len(X), 1), np.float32)
    for start in range(0, len(X), BLOCK):
        norms[start:start + BLOCK] = np.linalg.norm(X[start:start + BLOCK], axis=1, keepdims=True)
    if len(X) and np.allclose(norms, 1.0, atol=1e-4):
        return X
    return X / np.maximum(norms, 1e-12)


def _cosine_block(X: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - X @ X.T, 0.0, 2.0).astype(np.float64)


def _cut_tree(block: np.ndarray, distance: float, method: str = "average",
              size_margin: float = 0.0) -> np.ndarray:
    """Exact hierarchical cut of a small square distance block; labels from 0.

    Without `size_margin`, clusters are joined up to `distance`. With it, the cut tightens for
    small clusters: two clusters of a and b faces join only below distance - size_margin /
    sqrt(2ab / (a + b)) (two single faces: distance - size_margin; large clusters: distance),
    and a cluster survives only if every merge inside it passed. The average distance between
    two clusters is an average over a x b pairs, so it is noisy for small ones: two strangers
    (or two look-alikes with a photo each) fall under a global cut far more often than two
    well-filled albums of different people do."""
    n = len(block)
    if n == 1:
        return np.zeros(1, np.int64)
    tree = linkage(block[np.triu_indices(n, 1)], method=method)
    if not size_margin:
        return fcluster(tree, t=distance, criterion="distance").astype(np.int64) - 1
    sizes = np.concatenate([np.ones(n), tree[:, 3]])
    a, b = sizes[tree[:, 0].astype(np.int64)], sizes[tree[:, 1].astype(np.int64)]
    stats = np.zeros((n - 1, 4))
    stats[:, 3] = tree[:, 2] - (distance - size_margin / np.sqrt(2 * a * b / (a + b)))  # > 0: refused
    worst = maxRstat(tree, stats, 3)   # the most refused merge at or below each node
    return fcluster(tree, t=0.0, criterion="monocrit", monocrit=worst).astype(np.int64) - 1


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
        for members in label_groups(labels):
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
    members = np.flatnonzero(labels >= 0)
    sums = np.zeros((len(ids), X.shape[1]), np.float64)
    for start in range(0, len(members), BLOCK):   # in row order, as one np.add.at would, without copying X
        np.add.at(sums, inverse[start:start + BLOCK], X[members[start:start + BLOCK]])
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
    """The default: a kNN graph cut at the linkage's reach splits the faces into components
    (average linkage can never join two of them), exact average linkage runs inside each
    component on the cosine distance blended with neighbour-set overlap, with a cut that is
    tighter for small clusters (`size_margin`, see `_cut_tree`); a face whose nearest face from
    another photo is farther than `stranger_distance` stays unclustered (a one-off bystander
    does not join the nearest person); same-photo faces are split apart; over-split clusters
    whose centroids lie within `merge_distance` are joined. Memory O(n·k); components above
    EXACT_COMPONENT faces are first cut into pieces by a tighter graph so the exact step stays
    bounded."""

    distance: float = 0.075
    k: int = 30
    merge_distance: float | None = None
    method: str = "average"
    refine_rounds: int = 1
    context: float = 0.1          # weight of the neighbour-overlap distance
    context_k: int = 10           # neighbours per face in that overlap
    context_scale: float | None = None  # overlap distance scale; default: `distance` * 4/3
    size_margin: float = 0.0      # how much tighter the cut is for two single faces
    stranger_distance: float | None = None  # nearest other-photo face farther: left unclustered
    labels_: np.ndarray | None = None

    def describe(self) -> str:
        merge = f", centroid merge {self.merge_distance}" if self.merge_distance else ""
        context = (f" on cosine blended {self.context:g} with {self.context_k}-neighbour overlap"
                   if self.context else "")
        margin = f" (two single faces: {self.distance - self.size_margin:g})" if self.size_margin else ""
        stranger = (f", strangers beyond {self.stranger_distance:g} left alone"
                    if self.stranger_distance else "")
        return (f"kNN({self.k}) graph + {self.method} linkage at {self.distance}{margin}{context}"
                f"{merge}{stranger}, cannot-link")

    def reach(self) -> float:
        """The largest cosine distance of a pair that can end up in one cluster: a pair joins only
        if its blended distance is under `distance`, so only pairs under distance / (1 - context)."""
        return self.distance / (1.0 - self.context)

    def _check(self) -> None:
        if not self.distance > 0 or self.k < 1 or not 0 <= self.context < 1:
            raise ValueError(f"clustering needs distance > 0, k >= 1, 0 <= context < 1 ({self})")
        if not 0 <= self.size_margin < self.distance:
            raise ValueError(f"size_margin must lie in [0, distance): {self.size_margin}")
        if self.stranger_distance is not None and not self.stranger_distance > 0:
            raise ValueError(f"stranger_distance must be > 0 or None: {self.stranger_distance}")

    def fit(self, X, groups=None, progress=None) -> "GraphAverageLinkage":
        self._check()
        X = _normalise(X)
        n = len(X)
        if n == 0:
            self.labels_ = np.zeros(0, np.int64)
            return self
        idx, dist = knn(X, min(self.k, max(1, n - 1)), progress=progress)
        labels = self._cut(X, idx, dist, self.reach())   # components of that graph are independent
        if self.stranger_distance:
            labels[nearest_other_photo(idx, dist, groups) > self.stranger_distance] = -1
        labels = split_cannot_link(X, labels, groups)
        for _ in range(self.refine_rounds if self.merge_distance else 0):
            labels = merge_centroids(X, labels, self.merge_distance, groups)
        self.labels_ = _relabel(labels)
        return self

    def around(self, X, seeds) -> np.ndarray:
        """Mask of the faces of X that clustering the `seeds` (a mask) could join them to: the
        seeds and every face among a seed's k nearest within the linkage's reach. `extend`
        clusters new faces with these only, not with every unclustered face of the library."""
        X, seeds = _normalise(X), np.asarray(seeds, bool)
        near = seeds.copy()
        if seeds.any() and len(X) > 1:
            idx, dist = knn_of(X, X[seeds], min(self.k + 1, len(X)))
            near[idx[(idx >= 0) & (dist < self.reach())]] = True
        return near

    def _cut(self, X, idx, dist, edge: float) -> np.ndarray:
        """Labels of X's faces from their kNN lists idx and dist. A component too big for exact
        linkage is cut again with a tighter graph, on its rows of the lists restricted from the
        whole ones: X is never copied, and only one level's restriction is held at a time (at
        5M faces nested levels held a copy of the lists each)."""
        labels = np.full(len(idx), -1, np.int64)
        next_label = 0
        work: list[tuple[np.ndarray | None, float]] = [(None, edge)]   # (rows, None: every face; cut)
        while work:
            rows, cut = work.pop()
            sub_idx, sub_dist = (idx, dist) if rows is None else _restrict(idx, dist, rows)
            graph = edges_within(sub_idx, sub_dist, cut)
            _, comp = connected_components(graph, directed=False)
            del graph
            for members in label_groups(comp):
                faces = members if rows is None else rows[members]
                if len(members) > EXACT_COMPONENT:   # a chained giant component: cut it tighter
                    work.append((faces, cut * 0.9))
                    continue
                sub = np.zeros(1, np.int64) if len(members) == 1 else self._link(X[faces], sub_idx[members], members)
                labels[faces] = sub + next_label
                next_label += sub.max() + 1
            del sub_idx, sub_dist
        return labels

    def _link(self, X: np.ndarray, neighbours: np.ndarray, members: np.ndarray) -> np.ndarray:
        block = self._distances(X, neighbours, members)
        return _cut_tree(block, self.distance, self.method, self.size_margin)

    def _distances(self, X: np.ndarray, neighbours: np.ndarray, members: np.ndarray) -> np.ndarray:
        """The square block the linkage runs on: cosine, blended with neighbour-set overlap."""
        block = _cosine_block(X)
        if self.context:
            scale = self.context_scale or self.distance * 4 / 3
            sets = np.hstack([members[:, None], neighbours[:, : self.context_k]])  # self included
            block = (1 - self.context) * block + self.context * scale * neighbour_jaccard(sets)
            np.fill_diagonal(block, 0.0)
        return block


def nearest_other_photo(idx: np.ndarray, dist: np.ndarray, groups=None) -> np.ndarray:
    """Each face's distance to its nearest listed neighbour from another photo (inf: none)."""
    if groups is None:
        return dist[:, 0] if dist.shape[1] else np.full(len(dist), np.inf)
    groups = np.asarray(groups)
    other = (idx >= 0) & (groups[np.maximum(idx, 0)] != groups[:, None])
    return np.where(other, dist, np.inf).min(axis=1, initial=np.inf)


def _restrict(idx, dist, members):
    """The kNN lists of `members`, re-indexed to positions within `members`."""
    position = np.full(idx.shape[0], -1, idx.dtype)   # int32 where the indices fit: half the memory
    position[members] = np.arange(len(members))
    sub_idx = idx[members]
    outside = sub_idx < 0
    sub_idx = position[np.maximum(sub_idx, 0, out=sub_idx)]
    sub_idx[outside] = -1
    sub_dist = dist[members]
    sub_dist[sub_idx < 0] = np.inf
    return sub_idx, sub_dist


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. by first appearance; -1 kept."""
    out = np.full(len(labels), -1, np.int64)
    seen: dict[int, int] = {}
    for i, l in enumerate(labels.tolist()):
        if l >= 0:
            out[i] = seen.setdefault(l, len(seen))
    return out
