"""Clustering quality against known identities: BCubed and pairwise precision/recall/F.

Labels are any hashables; a predicted label of -1 (noise) counts as a cluster of its own.
Both measures run in O(n) over a contingency table, so they work at any size.
"""
from __future__ import annotations

from collections import Counter

import numpy as np


def _singletons_for_noise(predicted: np.ndarray) -> np.ndarray:
    predicted = np.asarray(predicted).copy()
    noise = predicted == -1
    if noise.any():
        start = predicted.max() + 1 if (~noise).any() else 0
        predicted[noise] = np.arange(start, start + noise.sum())
    return predicted


def _tables(truth, predicted):
    predicted = _singletons_for_noise(predicted)
    truth = list(truth)
    joint = Counter(zip(truth, predicted.tolist()))
    by_truth = Counter(truth)
    by_pred = Counter(predicted.tolist())
    return joint, by_truth, by_pred, len(truth)


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def bcubed(truth, predicted) -> dict:
    """Item-averaged precision and recall (Amigó et al. 2009)."""
    joint, by_truth, by_pred, n = _tables(truth, predicted)
    precision = sum(c * c / by_pred[p] for (t, p), c in joint.items()) / n
    recall = sum(c * c / by_truth[t] for (t, p), c in joint.items()) / n
    return {"precision": precision, "recall": recall, "f": _f(precision, recall)}


def pairwise(truth, predicted) -> dict:
    """Precision and recall over pairs of items put together."""
    joint, by_truth, by_pred, _ = _tables(truth, predicted)
    pairs = lambda c: c * (c - 1) / 2  # noqa: E731
    together_right = sum(pairs(c) for c in joint.values())
    together = sum(pairs(c) for c in by_pred.values())
    same = sum(pairs(c) for c in by_truth.values())
    precision = together_right / together if together else 1.0
    recall = together_right / same if same else 1.0
    return {"precision": precision, "recall": recall, "f": _f(precision, recall)}


def n_clusters(predicted) -> int:
    return len(set(_singletons_for_noise(np.asarray(predicted)).tolist()))


def score(truth, predicted) -> dict:
    """Everything the benchmarks print for one clustering."""
    b, p = bcubed(truth, predicted), pairwise(truth, predicted)
    return {"bcubed_precision": round(b["precision"], 4), "bcubed_recall": round(b["recall"], 4),
            "bcubed_f": round(b["f"], 4), "pairwise_f": round(p["f"], 4),
            "clusters": n_clusters(predicted)}
