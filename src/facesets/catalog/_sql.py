"""Small helpers the repositories share: id lists in chunks, blobs, matrices filled in place."""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

CHUNK = 900   # SQLite's bound-parameter limit is 999 on older builds


def to_blob(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=np.float32).tobytes()


def from_blob(blob: bytes | None, shape: tuple[int, ...] = (-1,)) -> np.ndarray | None:
    if blob is None:
        return None
    return np.frombuffer(blob, dtype=np.float32).reshape(shape)


def marks(n: int) -> str:
    return ",".join("?" * n)


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    """Sorted, distinct ids in lists of at most `size` (one IN (...) each)."""
    ordered = sorted({int(i) for i in ids})
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def fill_matrix(rows: Iterable, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (int columns..., embedding blob) written straight into preallocated arrays:
    an int64 (n, columns) array (NULL: -1) and a float32 (n, dim) matrix. No list of rows, no
    joined bytes, no copy: the peak is the matrix itself."""
    matrix = np.empty((n, dim), np.float32)
    columns = None
    count = 0
    for row in rows:
        if count == n:   # rows added since they were counted: the next read sees them
            break
        if columns is None:
            columns = np.empty((n, len(row) - 1), np.int64)
        matrix[count] = np.frombuffer(row[-1], np.float32)
        columns[count] = [-1 if v is None else v for v in row[:-1]]
        count += 1
    if columns is None:
        columns = np.zeros((0, 0), np.int64)
    return columns[:count], matrix[:count]
