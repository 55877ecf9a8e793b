"""Issue 22: where the review queue's band ends, and how its confidence reads, measured with the
queue's own code (`curate.suggest.proposals`) on lfw158 + lfw_singletons (dlib).

Each lfw158 identity becomes one person holding a fixed-seed half of its photos' main faces;
the other half, every bystander and every singleton (a person of one photo: nobody) are faces in
nobody. For each proposal in the queue: whether the first suggestion is the face's identity
(a singleton or a bystander is never right), by distance bin, and what the queue's confidence
said there; how many right faces lie beyond the band (never proposed), how many members are
weak. Last line: a JSON object.

    python benchmarks/review_band.py [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from _common import FACES, cached_catalog
from facesets.catalog import AssignedBy, Catalog
from facesets.cluster.labels import main_face_labels
from facesets.curate.suggest import cuts, proposals

BINS = [0.0, 0.03, 0.04, 0.05, 0.06, 0.065, 0.07, 0.075, 0.08, 0.1, 2.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    source = cached_catalog("lfw158_singletons_dlib", [FACES / "lfw158", FACES / "lfw_singletons"])
    with tempfile.TemporaryDirectory(prefix="review-band-") as tmp:
        db = Path(tmp) / "catalog.db"
        shutil.copyfile(source, db)
        with Catalog.open(db) as cat:
            truth = people_from_halves(cat, args.seed)
            limits = cuts(cat)
            items = proposals(cat)
            ids, X, _, current, _ = cat.faces.cluster_input()
            person_ids, centroids = cat.people.centroids(gated=True)
    label_of_person = {pid: label for label, pid in truth["people"].items()}
    rows = []
    for item in items:
        if item.kind != "face":
            continue
        first = item.choices[0]
        rows.append((first.distance, first.confidence, label_of_person.get(first.person_id) == truth["label"][item.face_id]))
    result = {"faces_in_nobody": int((current < 0).sum()), "proposed": len(rows),
              "weak_members": sum(1 for i in item_kinds(items) if i == "weak"), "members": int((current >= 0).sum()),
              "match_distance": limits.match, "review_distance": limits.review, "bins": []}
    for lo, hi in zip(BINS, BINS[1:]):
        inside = [(c, ok) for d, c, ok in rows if lo < d <= hi]
        if inside:
            result["bins"].append({"distance": f"({lo}, {hi}]", "faces": len(inside),
                                   "right": round(sum(ok for _, ok in inside) / len(inside), 3),
                                   "confidence": round(float(np.mean([c for c, _ in inside])), 3)})
    # right answers the band leaves out: faces in nobody whose own person lies beyond it
    position = {int(p): i for i, p in enumerate(person_ids)}
    missed = 0
    for face, vector, where in zip(ids, X, current):
        own = truth["people"].get(truth["label"].get(int(face)))
        if where < 0 and own is not None and 1.0 - float(vector @ centroids[position[own]]) > limits.review:
            missed += 1
    result["right_beyond_band"] = missed
    result["right_in_nobody"] = sum(1 for f, w in zip(ids, current) if w < 0 and truth["label"].get(int(f)) in truth["people"])
    for key, value in result.items():
        if key != "bins":
            print(f"{key:22s} {value}", file=sys.stderr)
    for row in result["bins"]:
        print(f"  d {row['distance']:14s} {row['faces']:5d} proposed, first suggestion right {row['right']:.3f}, "
              f"mean confidence {row['confidence']:.3f}", file=sys.stderr)
    print(json.dumps(result))


def item_kinds(items):
    return (item.kind for item in items)


def people_from_halves(cat: Catalog, seed: int) -> dict:
    """One person per lfw158 identity holding half its main faces (fixed seed); the rest in nobody."""
    face_ids, labels = main_face_labels(cat)
    label = dict(zip(face_ids, labels))
    by_identity: dict[str, list[int]] = defaultdict(list)
    for face, name in label.items():
        if not name.startswith("bystander:"):
            by_identity[name].append(face)
    lfw158 = {p.name for p in (FACES / "lfw158").iterdir()}
    rng = np.random.default_rng(seed)
    people = {}
    with cat.transaction():
        for name in sorted(by_identity):
            if name not in lfw158:
                continue
            faces = sorted(by_identity[name])
            rng.shuffle(faces)
            people[name] = cat.people.create()
            cat.people.assign(faces[: len(faces) // 2], people[name], AssignedBy.CLUSTER)
    return {"label": label, "people": people}


if __name__ == "__main__":
    main()
