"""Clustering at library scale: synthetic clustered 512-d embeddings at 10k, 100k and 1M faces.

Each size runs in its own process (so peak RSS is that size's own) through facesets' default
clustering with buffalo_l's profile (kNN graph, never an N x N matrix). scikit-learn's exact
average-linkage agglomerative, the proven tool's method, is run where its N x N distance
matrix fits and otherwise reported with the memory it would need.
Last line: JSON {"10000": {"seconds", "peak_rss_mb", "bcubed_f", ...}, ...}.

    python benchmarks/cluster_scale.py [--sizes 10000,100000,1000000] [-p NAME=VALUE ...]

`-p` overrides a clustering parameter of the profile (e.g. `-p size_margin=0.05 -p stranger=0.45`
to time the size-aware cut and the stranger rule, which buffalo_l's profile leaves off).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

DIM = 512
SIGMA = 0.03           # per-dimension noise: same-person distance ~0.3, like buffalo_l's
MEMORY_GB = 24         # this machine


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors in identity clusters of long-tailed sizes (1 to ~2000 faces)."""
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(min(2000, max(1, rng.lognormal(2.5, 1.3)))))
    sizes[-1] -= sum(sizes) - n
    labels = np.repeat(np.arange(len(sizes)), sizes)
    X = np.empty((n, DIM), np.float32)
    start = 0
    for label, size in enumerate(sizes):
        centre = rng.standard_normal(DIM).astype(np.float32)
        centre /= np.linalg.norm(centre)
        X[start:start + size] = centre + rng.normal(0, SIGMA, (size, DIM)).astype(np.float32)
        start += size
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, labels


def one(n: int, method: str, overrides: dict) -> dict:
    from _common import peak_rss_mb
    from facesets.cluster.metrics import bcubed
    from facesets.cluster.params import ClusterParams, default_algorithm
    from facesets.profiles import BUFFALO_L

    X, truth = synthetic(n)
    base_rss = peak_rss_mb()
    started = time.perf_counter()
    if method == "facesets":
        labels = default_algorithm(BUFFALO_L, ClusterParams.from_profile(BUFFALO_L, overrides)).fit(X).labels_
    else:
        from sklearn.cluster import AgglomerativeClustering
        labels = AgglomerativeClustering(n_clusters=None, distance_threshold=BUFFALO_L.cluster_distance,
                                         metric="cosine", linkage="average").fit(X).labels_
    seconds = time.perf_counter() - started
    sample = np.random.default_rng(1).choice(n, size=min(n, 200_000), replace=False)
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_rss_mb()), "data_rss_mb": round(base_rss),
            "bcubed_f": round(bcubed(truth[sample], labels[sample])["f"], 4),
            "clusters": int(len(set(labels.tolist()))), "true_clusters": int(truth.max() + 1)}


def sklearn_fits(n: int) -> tuple[bool, float]:
    """Whether sklearn's average linkage (a dense N x N float64 distance matrix plus a condensed
    copy) fits in this machine's memory, and the GB it needs."""
    need = (n * n * 8 + n * (n - 1) / 2 * 8) / 1e9
    return need < MEMORY_GB * 0.8, need


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--one", nargs=2, metavar=("N", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = dict(p.split("=", 1) for p in args.param)
    if args.one:
        print(json.dumps(one(int(args.one[0]), args.one[1], overrides)))
        return
    results: dict[str, dict] = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        row = _child(n, "facesets", args.param)
        fits, need = sklearn_fits(n)
        if fits:
            row["sklearn_agglomerative"] = _child(n, "sklearn", [])
        else:
            row["sklearn_agglomerative"] = f"does not fit: needs ~{need:,.0f} GB for its N x N matrix (machine: {MEMORY_GB} GB)"
        results[str(n)] = row
        sk = row["sklearn_agglomerative"]
        sk_text = sk if isinstance(sk, str) else f"{sk['seconds']} s, {sk['peak_rss_mb']} MB"
        print(f"{n:>9,d} faces: facesets {row['seconds']:8.1f} s, peak RSS {row['peak_rss_mb']:6.0f} MB "
              f"(data alone {row['data_rss_mb']} MB), BCubed F {row['bcubed_f']}; sklearn: {sk_text}", flush=True)
    largest_fit = max(n for n in range(10_000, 2_000_001, 1_000) if sklearn_fits(n)[0])
    print(f"sklearn average linkage stops fitting in {MEMORY_GB} GB at about {largest_fit:,d} faces")
    print(json.dumps(results))


def _child(n: int, method: str, params: list[str]) -> dict:
    flags = [f for p in params for f in ("-p", p)]
    proc = subprocess.run([sys.executable, __file__, "--one", str(n), method, *flags], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}",
                "seconds": float("nan"), "peak_rss_mb": float("nan"), "data_rss_mb": float("nan"), "bcubed_f": None}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
