"""k-nearest-neighbour graphs over L2-normalised embeddings, never an N x N matrix.

Exact inner-product search up to `EXACT_LIMIT` faces (fast enough and no recall loss), an
inverted-file index above it: at 1M faces an exact search would cost ~5e14 FLOPs, the IVF one
a few hundred times less, and clustered face embeddings keep their near neighbours in the
probed lists.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import sparse

EXACT_LIMIT = 60_000


def _faiss():
    import faiss
    return faiss


def knn(X: np.ndarray, k: int, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine distances), both (n, k), nearest first, self excluded; -1 pads."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X)
    k_eff = min(k + 1, n)
    index = _index(X)
    sims = np.empty((n, k_eff), np.float32)
    idx = np.empty((n, k_eff), np.int64)
    step = 20_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        sims[start:stop], idx[start:stop] = index.search(X[start:stop], k_eff)
        if progress:
            progress("neighbours", stop - start, n)
    return _drop_self(idx, sims, k)


def knn_of(X: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of X to each query row: (indices, cosine distances), -1 / inf pad."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    k_eff = min(k, len(X))
    sims, idx = _index(X).search(np.ascontiguousarray(queries, dtype=np.float32), k_eff)
    dist = np.where(idx >= 0, 1.0 - sims, np.inf).astype(np.float32)
    return idx, dist


def _index(X: np.ndarray):
    """A faiss inner-product index holding X: exact up to EXACT_LIMIT rows, IVF above."""
    faiss = _faiss()
    n, dim = X.shape
    if n <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(min(65536, 4 * math.sqrt(n)))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 8             # coarse centroids only route queries: a rough k-means will do
        index.cp.min_points_per_centroid = 16
        rng = np.random.default_rng(0)
        sample = X[np.sort(rng.choice(n, size=min(n, nlist * 20), replace=False))]
        index.train(sample)
        index.nprobe = 8
    index.add(X)
    return index


def _drop_self(idx: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k non-self neighbours of each row (self is column 0 but for exact duplicates),
    as int32 indices (when they fit) and float32 distances, -1 / inf padded."""
    n = idx.shape[0]
    index_type = np.int32 if n < 2**31 - 1 else np.int64
    rows = np.arange(n)
    out_idx = np.full((n, k), -1, index_type)
    out_dist = np.full((n, k), np.inf, np.float32)
    usual = idx[:, 0] == rows
    width = min(k, idx.shape[1] - 1)
    out_idx[usual, :width] = idx[usual, 1:width + 1]
    out_dist[usual, :width] = 1.0 - sims[usual, 1:width + 1]
    for r in np.flatnonzero(~usual):  # rare: a duplicate ranked before the face itself
        keep = (idx[r] != r) & (idx[r] >= 0)
        take = idx[r][keep][:k]
        out_idx[r, :len(take)] = take
        out_dist[r, :len(take)] = 1.0 - sims[r][keep][:k]
    bad = out_idx < 0
    out_dist[bad] = np.inf
    return out_idx, out_dist


def edges_within(idx: np.ndarray, dist: np.ndarray, max_distance: float) -> sparse.csr_matrix:
    """Sparse graph of the kNN pairs closer than `max_distance` (directed; its weakly connected
    components are what the clustering needs, so it is never symmetrised)."""
    n = idx.shape[0]
    mask = (idx >= 0) & (dist < max_distance)
    counts = mask.sum(axis=1)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    cols = idx[mask].astype(np.int32, copy=False)
    return sparse.csr_matrix((np.ones(len(cols), np.int8), cols, indptr), shape=(n, n))
