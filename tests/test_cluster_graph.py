"""The kNN graph above its size threshold (compressed IVF-SQ8 index, candidates re-ranked on
exact distances) gives the clustering the exact path gives on well-separated data; the
clustering's memory-saving paths (no copy of X) give the same labels."""
from __future__ import annotations

import numpy as np
import pytest

from facesets.cluster import graph
from facesets.cluster.algorithms import GraphAverageLinkage, merge_centroids


def _identities(n_ids: int = 120, per_id: int = 25, dim: int = 64, spread: float = 0.35, seed: int = 0):
    """Unit vectors around random (nearly orthogonal) identity centres; two photos per group
    of faces so cannot-link has something to do."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_ids), per_id)
    X = centres[labels] + spread * rng.standard_normal((len(labels), dim)) / np.sqrt(dim)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    order = rng.permutation(len(labels))
    return X[order].astype(np.float32), labels[order]


def _exact_knn(X, k):
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return idx, 1.0 - np.take_along_axis(sims, idx, axis=1)


def test_compressed_index_finds_the_exact_neighbours_with_exact_distances(monkeypatch):
    X, _ = _identities()
    exact_idx, exact_dist = graph.knn(X, 10)
    monkeypatch.setattr(graph, "EXACT_LIMIT", 100)          # the compressed path on 3000 faces
    idx, dist = graph.knn(X, 10)
    assert idx.dtype == np.int32 and idx.shape == (len(X), 10)
    same = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_idx, idx)])
    assert same > 0.97, same
    # every distance is the true one (re-ranked on the matrix, not on 8-bit codes)
    true = 1.0 - np.einsum("ij,ikj->ik", X, X[idx])
    assert np.allclose(dist, true, atol=1e-5)
    assert np.all(np.diff(dist, axis=1) >= -1e-6)            # nearest first
    assert not np.any(idx == np.arange(len(X))[:, None])    # self excluded
    reference, _ = _exact_knn(X, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(reference, idx)]) > 0.97


def test_compressed_path_gives_the_exact_paths_clustering(monkeypatch):
    X, truth = _identities()
    groups = np.arange(len(X)) // 2                          # two faces per photo
    algorithm = GraphAverageLinkage(distance=0.3, k=30, context=0.3)
    exact = algorithm.fit(X, groups).labels_
    monkeypatch.setattr(graph, "EXACT_LIMIT", 100)
    compressed = algorithm.fit(X, groups).labels_
    assert np.array_equal(exact, compressed)
    assert len(set(exact.tolist())) >= len(set(truth.tolist()))   # identities kept apart


def test_giant_components_recurse_without_copying_and_keep_their_labels(monkeypatch):
    """Cutting a component too big for exact linkage with a tighter graph works on row
    indices of X: same labels as on a copy of the component."""
    from facesets.cluster import algorithms
    X, _ = _identities(n_ids=40, per_id=30, spread=0.6)
    algorithm = GraphAverageLinkage(distance=0.5, k=15, context=0.3)
    whole = algorithm.fit(X).labels_
    monkeypatch.setattr(algorithms, "EXACT_COMPONENT", 200)
    recursed = algorithm.fit(X).labels_
    assert len(set(recursed.tolist())) >= 40
    monkeypatch.setattr(algorithms, "BLOCK", 7)                   # norms and sums a few rows at a time
    assert np.array_equal(algorithm.fit(X).labels_, recursed)
    assert len(set(whole.tolist())) >= 40


def test_merge_centroids_in_blocks_equals_one_pass(monkeypatch):
    from facesets.cluster import algorithms
    X, truth = _identities(n_ids=30, per_id=10)
    split = truth * 2 + (np.arange(len(truth)) % 2)              # every identity cut in two
    one = merge_centroids(X, split, 0.3)
    monkeypatch.setattr(algorithms, "BLOCK", 16)
    assert np.array_equal(merge_centroids(X, split, 0.3), one)
    assert len(set(one.tolist())) == 30


@pytest.mark.parametrize("queries", [1, 40])
def test_knn_of_is_exact(queries):
    X, _ = _identities(n_ids=20, per_id=10)
    idx, dist = graph.knn_of(X, X[:queries], 5)
    sims = X[:queries] @ X.T
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :5]
    assert np.array_equal(np.sort(idx, axis=1), np.sort(expected, axis=1))
    assert np.allclose(dist, 1.0 - np.take_along_axis(sims, idx, axis=1), atol=1e-5)
