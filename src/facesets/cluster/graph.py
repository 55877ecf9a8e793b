"""k-nearest-neighbour graphs over L2-normalised embeddings, never an N x N matrix.

Exact inner-product search up to `EXACT_LIMIT` faces (fast enough and no recall loss). Above
it, a compressed inverted-file index proposes candidates and each face's candidates are
re-ranked on their exact distances from the matrix itself, so the graph is still cut on true
distance. The index holds 8-bit scalar-quantised codes (IVF-SQ8) of the embeddings, projected
on their `SEARCH_DIM` principal axes when they are longer: at 512-d a sixteenth of the matrix,
where a flat index would hold a second full copy, and a quarter of the search work. At 1M faces
an exact search would cost ~5e14 FLOPs, the IVF one a few hundred times less, and clustered
face embeddings keep their near neighbours in the probed lists. Each face's coarse cells are
computed once and serve both adding it to the index and probing from it.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import sparse

EXACT_LIMIT = 60_000
SEARCH_DIM = 128         # longer embeddings are searched on their PCA projection
RERANK_EXTRA = 32        # candidates beyond k from the compressed index, re-ranked exactly
NPROBE = 8
EXACT_STEP = 20_000      # queries per exact search call
COMPRESSED_STEP = 8_192  # queries per compressed search call


def _faiss():
    import faiss
    return faiss


def knn(X: np.ndarray, k: int, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine distances), both (n, k), nearest first, self excluded; -1 / inf pad.
    Indices are int32 when they fit."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X)
    k_eff = min(k + 1, n)
    out_idx = np.full((n, k), -1, np.int32 if n < 2**31 - 1 else np.int64)
    out_dist = np.full((n, k), np.inf, np.float32)
    if n <= EXACT_LIMIT:
        search, step = _exact(X, k_eff), EXACT_STEP
    else:
        search, step = _compressed(X, k_eff, progress), COMPRESSED_STEP
    for start in range(0, n, step):
        stop = min(n, start + step)
        sims, idx = search(start, stop)
        out_idx[start:stop], out_dist[start:stop] = _drop_self(idx, sims, k, start)
        if progress:
            progress("neighbours", stop - start, n)
    return out_idx, out_dist


def label_groups(labels: np.ndarray) -> list[np.ndarray]:
    """Positions of each label's members (ascending), groups in label order: one stable sort,
    not one pass over every face per label."""
    labels = np.asarray(labels)
    if not len(labels):
        return []
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)


def knn_of(X: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of X to each query row, exactly: (indices, cosine distances), -1 /
    inf pad. Brute force without an index (no copy of X): it serves a few queries."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k_eff = min(k, len(X))
    if not len(queries) or not k_eff:
        return np.zeros((len(queries), k_eff), np.int64), np.zeros((len(queries), k_eff), np.float32)
    faiss = _faiss()
    sims, idx = faiss.knn(queries, X, k_eff, metric=faiss.METRIC_INNER_PRODUCT)
    dist = np.where(idx >= 0, 1.0 - sims, np.inf).astype(np.float32)
    return idx, dist


def _exact(X: np.ndarray, k_eff: int):
    index = _faiss().IndexFlatIP(X.shape[1])
    index.add(X)
    return lambda start, stop: index.search(X[start:stop], k_eff)


def _compressed(X: np.ndarray, k_eff: int, progress=None):
    """Search over an IVF-SQ8 index of X (of its projection on the principal axes when X is
    longer than SEARCH_DIM), candidates re-ranked on exact inner products."""
    faiss = _faiss()
    n, dim = X.shape
    nlist = int(min(65536, 4 * math.sqrt(n)))
    rng = np.random.default_rng(0)
    sample = X[np.sort(rng.choice(n, size=min(n, nlist * 20), replace=False))]
    project, width = (lambda rows: rows), dim
    if dim > SEARCH_DIM:
        basis = principal_axes(sample, SEARCH_DIM)
        project, width = (lambda rows: rows @ basis), SEARCH_DIM
    quantizer = faiss.IndexFlatIP(width)
    index = faiss.IndexIVFScalarQuantizer(quantizer, width, nlist, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 8             # coarse centroids only route queries: a rough k-means will do
    index.cp.min_points_per_centroid = 16
    index.train(np.ascontiguousarray(project(sample), dtype=np.float32))
    del sample
    nprobe = min(NPROBE, nlist)
    index.nprobe = nprobe
    cells = np.empty((n, nprobe), np.int64)          # each face's nearest coarse cells, once
    cell_distances = np.empty((n, nprobe), np.float32)
    for start in range(0, n, EXACT_STEP):
        stop = min(n, start + EXACT_STEP)
        rows = np.ascontiguousarray(project(X[start:stop]), dtype=np.float32)
        cell_distances[start:stop], cells[start:stop] = quantizer.search(rows, nprobe)
        nearest = np.ascontiguousarray(cells[start:stop, 0])
        index.add_core(stop - start, faiss.swig_ptr(rows), None, faiss.swig_ptr(nearest))
        if progress:
            progress("indexing", stop - start, n)
    candidates = min(n, k_eff + RERANK_EXTRA)

    def search(start, stop):
        rows = np.ascontiguousarray(project(X[start:stop]), dtype=np.float32)
        _, idx = index.search_preassigned(rows, candidates, cells[start:stop], cell_distances[start:stop])
        return rerank(X, X[start:stop], idx, k_eff)
    return search


def principal_axes(sample: np.ndarray, width: int) -> np.ndarray:
    """(dim, width) float32: the directions that keep most of the inner products between unit
    vectors (top eigenvectors of the uncentred second moment). Inner products of projections
    approximate the cosine: what is dropped is mostly noise that cancels between faces."""
    moment = (sample.T @ sample).astype(np.float64)
    _, vectors = np.linalg.eigh(moment)
    return np.ascontiguousarray(vectors[:, ::-1][:, :width], dtype=np.float32)


def rerank(X: np.ndarray, queries: np.ndarray, candidates: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The `keep` candidates of each query nearest on exact inner products with X's rows:
    (similarities, indices), best first, -inf / -1 pad."""
    faiss = _faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    candidates = np.ascontiguousarray(candidates, dtype=np.int64)
    sims = np.empty(candidates.shape, np.float32)   # faiss: -inf where a candidate is -1
    faiss.fvec_inner_products_by_idx(faiss.swig_ptr(sims), faiss.swig_ptr(queries), faiss.swig_ptr(X),
                                     faiss.swig_ptr(candidates), X.shape[1], len(queries), candidates.shape[1])
    order = np.argsort(-sims, axis=1, kind="stable")[:, :keep]
    best = np.take_along_axis(sims, order, axis=1)
    return best, np.where(np.isfinite(best), np.take_along_axis(candidates, order, axis=1), -1)


def _drop_self(idx: np.ndarray, sims: np.ndarray, k: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The first k non-self neighbours of each row (row i is face `first + i`; self is column 0
    but for exact duplicates), as distances, -1 / inf padded."""
    n = idx.shape[0]
    rows = np.arange(first, first + n)
    out_idx = np.full((n, k), -1, np.int64)
    out_dist = np.full((n, k), np.inf, np.float32)
    usual = idx[:, 0] == rows
    width = min(k, idx.shape[1] - 1)
    out_idx[usual, :width] = idx[usual, 1:width + 1]
    out_dist[usual, :width] = 1.0 - sims[usual, 1:width + 1]
    for r in np.flatnonzero(~usual):  # rare: a duplicate ranked before the face itself
        keep = (idx[r] != rows[r]) & (idx[r] >= 0)
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
