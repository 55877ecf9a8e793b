"""The methods facesets' default clustering is measured against, with the same `fit` shape:
exact average-linkage agglomerative (sort_faces.py), cosine DBSCAN (the desktop sorter) and
Immich's incremental rule. None of them knows cannot-link; `groups` is accepted and ignored."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .algorithms import _average_linkage, _normalise
from .graph import knn


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
