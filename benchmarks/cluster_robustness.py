"""Identity clustering across library compositions: does one default hold in libraries it was
not tuned on?

Every labelled face of ../shared is embedded once (dlib, cached): lfw158, lfw_singletons,
five_celebrity, the group photo t1.jpg and the crowd photos ssh_t2.jpg and
worlds-largest-selfie.jpg (each crowd or group face is a stranger of its own). lfw158 +
lfw_singletons are split into cluster_quality.py's two identity halves: the calibration half is
the one composition every baseline and candidate is tuned on (once, by grid search) and the one
facesets' profile was calibrated on; the compositions draw their LFW people and strangers from
the other half only. 24 compositions with fixed seeds vary the number of people (20 to all 79 +
the five celebrities), photos per person (2 to 20, flat or long-tailed), the share of strangers
(0% to 80%: one-off people, bystanders) and the crowd photos (with / without).

Prints each composition, then per method the mean and worst BCubed F and BCubed precision;
the last line is a JSON object.

    python benchmarks/cluster_robustness.py [--engine dlib] [--compositions 24] [--details]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FACES, SHARED, cached_catalog  # noqa: E402
from _cluster_candidates import candidate_grids  # noqa: E402
from cluster_quality import baseline_grids, grid_search, halves, tuning_distances  # noqa: E402

from facesets import Catalog  # noqa: E402
from facesets.cluster.labels import LFW_LABEL_FIXES, main_face_labels  # noqa: E402
from facesets.cluster.metrics import score  # noqa: E402
from facesets.cluster.algorithms import GraphAverageLinkage  # noqa: E402
from facesets.cluster.params import default_algorithm  # noqa: E402
from facesets.profiles import profile_for  # noqa: E402

CROWDS = ("ssh_t2.jpg", "worlds-largest-selfie.jpg")
GROUPS = ("t1.jpg",)
SHARES = (0.0, 0.2, 0.4, 0.6, 0.8)
PEOPLE = (20, 35, 50, 65, None)   # None: every person of the evaluation half


@dataclass
class Pool:
    """Every usable face: embedding, photo, identity label and where it came from."""
    X: np.ndarray
    groups: np.ndarray     # photo (file id)
    labels: np.ndarray     # identity; strangers get a label of their own
    kind: np.ndarray       # lfw158 | singleton | celebrity | group | crowd
    main: np.ndarray       # the photo's labelled face (False: bystander)
    calibration: np.ndarray  # in cluster_quality.py's tuning half


def load_pool(engine: str) -> tuple[Pool, object]:
    lfw = [FACES / "lfw158", FACES / "lfw_singletons"]
    base = cached_catalog(f"lfw158_singletons_{engine}", lfw, engine=engine)
    others = [FACES / "five_celebrity"] + [SHARED / "data" / "photos" / n for n in GROUPS + CROWDS]
    # the LFW faces keep cluster_quality's face ids (so its identity halves) when the larger
    # catalog starts as a copy of its catalog
    path = cached_catalog(f"robustness_{engine}", lfw + others, engine=engine, base=base)
    with Catalog.open(path, readonly=True) as catalog:
        rows = [{"id": f.id, "file_id": f.file_id, "path": f.path, "face_index": f.face_index}
                for f in catalog.faces.all()]
        ids, X = catalog.faces.embeddings()
        labelled, face_labels = main_face_labels(catalog, fixes={})
        profile = profile_for(catalog.embedding_model().key)
    assert [r["id"] for r in rows] == ids.tolist() == labelled
    main = {f for f, label in zip(labelled, face_labels) if not label.startswith("bystander:")}
    labels, kinds, is_main, lfw_labels = [], [], [], []
    for r in rows:
        path = Path(r["path"])
        parts = path.parts
        kind = ("lfw158" if "lfw158" in parts else "singleton" if "lfw_singletons" in parts
                else "celebrity" if "five_celebrity" in parts else "group" if path.name in GROUPS
                else "crowd" if path.name in CROWDS else "other")
        # LFW crops centre their person; five_celebrity's web photos show theirs largest
        primary = r["face_index"] == 0 if kind == "celebrity" else r["id"] in main
        primary = primary and kind in ("lfw158", "singleton", "celebrity")
        name = LFW_LABEL_FIXES.get(path.name, path.parent.name).lower()
        labels.append(name if primary else f"stranger:{r['id']}")
        kinds.append(kind)
        is_main.append(primary)
        if kind in ("lfw158", "singleton"):  # cluster_quality.py's labels, for its halves
            lfw_labels.append(LFW_LABEL_FIXES.get(path.name, path.parent.name) if r["id"] in main
                              else f"bystander:{r['id']}")
    kinds = np.array(kinds)
    in_lfw = np.flatnonzero(np.isin(kinds, ["lfw158", "singleton"]))
    tune, _ = halves(lfw_labels)
    calibration = np.zeros(len(rows), bool)
    calibration[in_lfw[tune]] = True
    files = np.array([r["file_id"] for r in rows])
    keep = kinds != "other"
    pool = Pool(X[keep], files[keep], np.array(labels, object)[keep], kinds[keep],
                np.array(is_main)[keep], calibration[keep])
    return pool, profile


def _photos_by_label(pool: Pool, mask: np.ndarray) -> dict[str, list[int]]:
    """label -> photo ids whose labelled face carries it."""
    out: dict[str, list[int]] = {}
    for i in np.flatnonzero(mask & pool.main):
        out.setdefault(pool.labels[i], []).append(int(pool.groups[i]))
    return {k: sorted(v) for k, v in sorted(out.items())}


def compositions(pool: Pool, count: int, calibration: bool = False) -> list[dict]:
    """Fixed-seed libraries drawn from the evaluation half (from the calibration half, LFW
    only, with other seeds, when `calibration`): name, face indices, description."""
    half = pool.calibration if calibration else ~pool.calibration
    people = _photos_by_label(pool, half & (pool.kind == "lfw158"))
    celebrities = {} if calibration else _photos_by_label(pool, pool.kind == "celebrity")
    singles = sorted(set(pool.groups[half & (pool.kind == "singleton")].tolist()))
    groups = [] if calibration else sorted(set(pool.groups[pool.kind == "group"].tolist()))
    crowds = [] if calibration else sorted(set(pool.groups[pool.kind == "crowd"].tolist()))
    faces_of: dict[int, list[int]] = {}
    for i, g in enumerate(pool.groups.tolist()):
        faces_of.setdefault(g, []).append(i)
    out = []
    for c in range(count):
        rng = np.random.default_rng((2000 if calibration else 1000) + c)
        share, crowd = SHARES[c % len(SHARES)], bool(c % 2) and not calibration
        long_tail = (c // 2) % 2 == 0
        n_people = PEOPLE[(c // len(SHARES)) % len(PEOPLE)] or len(people)
        with_celebrities = bool(rng.random() < 0.5) and bool(celebrities)
        names = [str(n) for n in rng.choice(list(people), size=min(n_people, len(people)), replace=False)]
        albums: list[list[int]] = []   # each person's photos
        for name in names:
            n = int(min(20, 2 + rng.pareto(1.0) * 1.5)) if long_tail else int(rng.integers(2, 21))
            albums.append(rng.choice(people[name], size=min(n, len(people[name])), replace=False).tolist())
        if with_celebrities:  # a few people with many photos
            albums += [photos[: int(rng.integers(len(photos) // 2, len(photos) + 1))]
                       for photos in celebrities.values()]
        # one-off strangers: lfw_singletons, one photo of each person left out, the group photo
        strangers = singles + [people[n][0] for n in people if n not in names] + groups
        strangers = [strangers[i] for i in rng.permutation(len(strangers))]
        fixed = crowds if crowd else []
        # until the share is reachable, leave people out (while more than 4 remain) or thin the
        # albums at random (big ones stay big), never below 2 photos
        drop_people = bool(rng.random() < 0.5)
        if share > 0:
            supply = sum(len(faces_of[g]) for g in strangers + fixed)
            while sum(map(len, albums)) > supply * (1 - share) / share:
                sizes = np.array([len(a) - 2 for a in albums], float)
                if drop_people and len(albums) > 4:
                    albums.pop(int(rng.integers(len(albums))))
                elif sizes.sum() > 0:
                    albums[int(rng.choice(len(albums), p=sizes / sizes.sum()))].pop()
                else:
                    albums.pop(int(rng.integers(len(albums))))
        idx = [i for album in albums for g in album for i in faces_of[g]]
        if share == 0:
            idx = [i for i in idx if pool.main[i]]   # a clean library: no bystanders
        idx += [i for g in fixed for i in faces_of[g]]
        for g in strangers:
            if share == 0 or _share(pool, idx) >= share:
                break
            idx += faces_of[g]
        idx = np.sort(np.array(idx))
        out.append({"name": f"{'k' if calibration else 'c'}{c:02d}", "indices": idx, "people": len(albums),
                    "tail": "long" if long_tail else "flat", "crowd": crowd, "faces": len(idx),
                    "strangers": round(_share(pool, idx), 2),
                    "photos_per_person": max(map(len, albums))})
    return out


def _share(pool: Pool, idx) -> float:
    """Share of faces whose identity appears once."""
    counts = np.unique(pool.labels[np.asarray(idx)], return_counts=True)[1]
    return float((counts == 1).sum() / max(1, len(idx)))


# facesets' default before issue 20 (kNN graph + average linkage, one cut), per engine profile
PREVIOUS = {"dlib/resnet_v1": {"distance": 0.0725, "context": 0.3}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="dlib")
    parser.add_argument("--compositions", type=int, default=24)
    parser.add_argument("--details", action="store_true", help="print every method's F per composition")
    parser.add_argument("--only", help="comma-separated baselines / candidates to tune and run "
                        "(default: all)")
    parser.add_argument("--calibration", action="store_true", help="score the calibration half's "
                        "compositions instead (what the shipped profile was chosen on)")
    args = parser.parse_args()

    pool, profile = load_pool(args.engine)
    comps = compositions(pool, args.compositions, calibration=args.calibration)
    calib = np.flatnonzero(pool.calibration)
    print(f"{len(pool.X)} labelled faces; calibration composition: {len(calib)} faces of the tuning "
          f"half; {len(comps)} compositions from the {'same' if args.calibration else 'other'} half",
          file=sys.stderr)
    print(f"{'comp':5s} {'faces':>6s} {'people':>7s} {'tail':>5s} {'most':>5s} {'strangers':>10s} {'crowd':>6s}")
    for c in comps:
        print(f"{c['name']:5s} {c['faces']:6d} {c['people']:7d} {c['tail']:>5s} "
              f"{c['photos_per_person']:5d} {c['strangers']:10.2f} {'yes' if c['crowd'] else 'no':>6s}")

    methods: dict[str, tuple] = {}
    algorithm = default_algorithm(profile)
    methods["facesets"] = (lambda: default_algorithm(profile), "profile defaults: " + algorithm.describe())
    if profile.name in PREVIOUS:
        before = PREVIOUS[profile.name]
        methods["facesets before"] = (lambda: GraphAverageLinkage(**before),
                                      "previous defaults: " + json.dumps(before))
    grids = {**baseline_grids(profile), **candidate_grids(profile, tuning_distances(profile))}
    if args.only:
        grids = {name: grid for name, grid in grids.items() if name in args.only.split(",")}
    for name, (make, grid) in grids.items():
        started = time.perf_counter()
        params, tuned = grid_search(make, grid, pool.X[calib], pool.labels[calib], pool.groups[calib])
        print(f"tuned {name} on the calibration composition: {params} (BCubed F {tuned['bcubed_f']}, "
              f"{time.perf_counter() - started:.0f} s)", file=sys.stderr)
        methods[name] = ((lambda make=make, params=params: make(**params)), json.dumps(params))

    results: dict[str, list[dict]] = {name: [] for name in methods}
    for c in comps:
        idx = c["indices"]
        for name, (make, _) in methods.items():
            results[name].append(score(pool.labels[idx], make().fit(pool.X[idx], pool.groups[idx]).labels_))
        if args.details:
            print(f"{c['name']}: " + "  ".join(f"{n} {r[-1]['bcubed_f']:.3f}/{r[-1]['bcubed_precision']:.3f}"
                                              for n, r in results.items()), flush=True)

    summary = {}
    print(f"\n{'method':16s} {'mean F':>7s} {'worst F':>8s} {'mean P':>7s} {'worst P':>8s} "
          f"{'worst at':>9s}  params")
    for name, rows in results.items():
        f = np.array([r["bcubed_f"] for r in rows])
        p = np.array([r["bcubed_precision"] for r in rows])
        summary[name] = {"mean_f": round(float(f.mean()), 4), "worst_f": round(float(f.min()), 4),
                         "mean_p": round(float(p.mean()), 4), "worst_p": round(float(p.min()), 4),
                         "worst_composition": comps[int(f.argmin())]["name"]}
        print(f"{name:16s} {f.mean():7.4f} {f.min():8.4f} {p.mean():7.4f} {p.min():8.4f} "
              f"{comps[int(f.argmin())]['name']:>9s}  {methods[name][1]}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
