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
    faiss = _faiss()
    X = np.ascontiguousarray(X, dtype=np.float32)
    n, dim = X.shape
    k_eff = min(k + 1, n)
    if n <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(min(65536, 2 * math.sqrt(n)))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10            # coarse centroids only route queries: a rough k-means will do
        rng = np.random.default_rng(0)
        sample = X[rng.choice(n, size=min(n, nlist * 32), replace=False)]
        index.train(sample)
        index.nprobe = 10
    index.add(X)
    sims = np.empty((n, k_eff), np.float32)
    idx = np.empty((n, k_eff), np.int64)
    step = 20_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        sims[start:stop], idx[start:stop] = index.search(X[start:stop], k_eff)
        if progress:
            progress("neighbours", stop - start, n)
    # drop self (usually column 0, but duplicates may come first)
    rows = np.arange(n)[:, None]
    is_self = idx == rows
    out_idx = np.full((n, k), -1, np.int64)
    out_dist = np.full((n, k), np.inf, np.float32)
    keep = ~is_self
    # keep the first k non-self entries of each row
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    take_idx = np.take_along_axis(idx, order, axis=1)
    take_sim = np.take_along_axis(sims, order, axis=1)
    take_keep = np.take_along_axis(keep, order, axis=1) & (take_idx >= 0)
    out_idx[:, :take_idx.shape[1]] = np.where(take_keep, take_idx, -1)
    out_dist[:, :take_idx.shape[1]] = np.where(take_keep, 1.0 - take_sim, np.inf)
    return out_idx, out_dist


def edges_within(idx: np.ndarray, dist: np.ndarray, max_distance: float) -> sparse.csr_matrix:
    """Symmetric sparse graph of the kNN pairs closer than `max_distance` (data = distance)."""
    n = idx.shape[0]
    mask = (idx >= 0) & (dist < max_distance)
    rows = np.repeat(np.arange(n), idx.shape[1])[mask.ravel()]
    cols = idx.ravel()[mask.ravel()]
    data = np.maximum(dist.ravel()[mask.ravel()], 1e-6)
    graph = sparse.coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()
    return graph.maximum(graph.T).tocsr()
