"""Identity clustering quality on labelled faces: facesets' default against the known methods.

Embeds lfw158 + lfw_singletons with the dlib engine (cached), then on the same embeddings:
facesets' default clustering with its profile's parameters (no tuning), and (a) average-linkage
agglomerative with a distance threshold, (b) cosine DBSCAN, (c) Immich's incremental rule, each
with parameters grid-searched on one half of the identities and scored on the other half (the
half facesets is scored on too). Prints BCubed precision/recall/F, pairwise F and cluster count;
the last line is a JSON object.

    python benchmarks/cluster_quality.py [--engine dlib]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FACES, cached_catalog, main_face_labels  # noqa: E402

from facesets import Catalog  # noqa: E402
from facesets.cluster.baselines import AverageLinkage, CosineDBSCAN, ImmichIncremental  # noqa: E402
from facesets.cluster.metrics import score  # noqa: E402
from facesets.cluster.params import default_algorithm  # noqa: E402
from facesets.profiles import profile_for  # noqa: E402


def halves(labels: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split faces into two halves by identity (bystanders split by their own label)."""
    identities = sorted(set(labels))
    random.Random(seed).shuffle(identities)
    tune = set(identities[: len(identities) // 2])
    mask = np.array([label in tune for label in labels])
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def grid_search(make, grid, X, y, groups) -> tuple[dict, dict]:
    """The parameters with the best BCubed F on (X, y), and that score."""
    best_params, best = None, {"bcubed_f": -1}
    for params in grid:
        result = score(y, make(**params).fit(X, groups).labels_)
        if result["bcubed_f"] > best["bcubed_f"]:
            best_params, best = params, result
    return best_params, best


def tuning_distances(profile) -> list[float]:
    """The distances baselines are grid-searched over, on the profile's scale."""
    return [round(float(d), 4) for d in np.arange(0.03, 0.16, 0.005)] if profile.cluster_distance < 0.2 \
        else [round(float(d), 3) for d in np.arange(0.25, 0.8, 0.025)]


def baseline_grids(profile) -> dict:
    """The baselines and the parameter grids they are tuned over."""
    distances = tuning_distances(profile)
    return {
        "agglomerative": (AverageLinkage, [{"distance": d} for d in distances]),
        "dbscan": (CosineDBSCAN, [{"eps": d, "min_samples": m} for d in distances for m in (1, 2, 3, 5)]),
        "immich": (ImmichIncremental, [{"max_distance": d, "min_faces": m} for d in distances
                                        for m in (1, 2, 3, 5)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="dlib")
    args = parser.parse_args()

    path = cached_catalog(f"lfw158_singletons_{args.engine}", [FACES / "lfw158", FACES / "lfw_singletons"],
                          engine=args.engine)
    with Catalog.open(path, readonly=True) as catalog:
        face_ids, labels = main_face_labels(catalog)
        faces = catalog.faces.cluster_input()
        ids, X, groups = faces.ids, faces.X, faces.files
        assert list(ids) == face_ids
        profile = profile_for(catalog.embedding_model().key)

    tune, test = halves(labels)
    y = np.array(labels, dtype=object)
    print(f"{len(X)} faces, {len(set(labels))} identities (bystanders included); tuning on "
          f"{len(tune)} faces, scoring on {len(test)}", file=sys.stderr)

    baselines = baseline_grids(profile)
    rows: dict[str, dict] = {}
    started = time.perf_counter()
    algorithm = default_algorithm(profile)
    rows["facesets"] = {**score(y[test], algorithm.fit(X[test], groups[test]).labels_),
                        "params": "profile defaults: " + algorithm.describe()}
    rows["facesets"]["seconds"] = round(time.perf_counter() - started, 2)
    for name, (make, grid) in baselines.items():
        params, tuned = grid_search(make, grid, X[tune], y[tune], groups[tune])
        started = time.perf_counter()
        rows[name] = {**score(y[test], make(**params).fit(X[test], groups[test]).labels_),
                      "params": json.dumps(params), "tuned_on_other_half": tuned["bcubed_f"]}
        rows[name]["seconds"] = round(time.perf_counter() - started, 2)
    whole = score(y, default_algorithm(profile).fit(X, groups).labels_)

    print(f"{'method':14s} {'B3 prec':>8s} {'B3 rec':>8s} {'B3 F':>8s} {'pair F':>8s} {'clusters':>9s}  params")
    for name, r in rows.items():
        print(f"{name:14s} {r['bcubed_precision']:8.4f} {r['bcubed_recall']:8.4f} {r['bcubed_f']:8.4f} "
              f"{r['pairwise_f']:8.4f} {r['clusters']:9d}  {r['params']}")
    truth_clusters = len(set(y[test].tolist()))
    print(f"(scored half: {len(test)} faces, {truth_clusters} true identities; facesets on all "
          f"{len(X)} faces: B3 F {whole['bcubed_f']}, pairwise F {whole['pairwise_f']})")
    print(json.dumps({name: {"bcubed_f": r["bcubed_f"], "pairwise_f": r["pairwise_f"],
                             "clusters": r["clusters"]} for name, r in rows.items()}))


if __name__ == "__main__":
    main()
