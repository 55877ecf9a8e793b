"""Similarity helpers shared by the passes: near pairs without an N×N matrix, and their groups."""
from __future__ import annotations

import numpy as np


def near_pairs(matrix: np.ndarray, threshold: float, block: int = 4096) -> list[tuple[int, int, float]]:
    """Index pairs (i < j) with cosine similarity >= threshold (rows L2-normalised).

    faiss range search when available; otherwise blocks of rows against everything, so memory
    stays at block × N, never N × N."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    n = len(matrix)
    if n < 2:
        return []
    pairs: list[tuple[int, int, float]] = []
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a dependency
        faiss = None
    if faiss is not None:
        index = faiss.IndexFlatIP(matrix.shape[1])
        index.add(matrix)
        # faiss returns similarities > radius; step just below the threshold to make it >=
        radius = float(np.nextafter(np.float32(threshold), np.float32(-1)))
        for start in range(0, n, block):
            lims, sims, ids = index.range_search(matrix[start:start + block], radius)
            for row in range(len(lims) - 1):
                i = start + row
                for k in range(lims[row], lims[row + 1]):
                    j = int(ids[k])
                    if j > i and sims[k] >= threshold:
                        pairs.append((i, j, float(sims[k])))
        return pairs
    for start in range(0, n, block):  # pragma: no cover
        sims = matrix[start:start + block] @ matrix.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, j in zip(rows, cols):
            if j > start + r:
                pairs.append((start + int(r), int(j), float(sims[r, j])))
    return pairs


def groups_of(n: int, pairs) -> list[list[int]]:
    """Connected components (union-find) of the pairs, each sorted, only those with >= 2 members."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, *_ in pairs:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    return [sorted(m) for m in members.values() if len(m) > 1]
