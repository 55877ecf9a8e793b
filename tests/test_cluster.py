"""Clustering stages on real dlib embeddings: extend keeps numbers, refine is pure,
cannot-link holds, user decisions survive a re-cluster, trees are written from the catalog."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import FACES, PHOTOS, run_cli
from facesets import Catalog
from facesets.cluster import cluster, extend, refine
from facesets.cluster.params import default_algorithm
from facesets.profiles import profile_for
from facesets.cluster.algorithms import GraphAverageLinkage, _cut_tree
from facesets.cluster.baselines import AverageLinkage
from facesets.cluster.labels import main_face_labels
from facesets.cluster.metrics import bcubed, pairwise


def _people_of(cat: Catalog, assigned_only: bool = True) -> dict[int, int | None]:
    """face id -> its person (assigned faces only, unless told otherwise)."""
    return {f.id: f.person_id for f in cat.faces.all() if f.person_id is not None or not assigned_only}


def _main_faces(cat: Catalog) -> dict[int, str]:
    """face id -> identity for the face each LFW photo centres on (bystanders left out)."""
    ids, labels = main_face_labels(cat)
    return {f: label for f, label in zip(ids, labels) if not label.startswith("bystander:")}


def test_metrics_on_known_cases():
    truth = ["a", "a", "b", "b"]
    assert bcubed(truth, [0, 0, 1, 1])["f"] == 1.0
    merged = bcubed(truth, [0, 0, 0, 0])
    assert merged["recall"] == 1.0 and merged["precision"] == 0.5
    assert pairwise(truth, [0, 1, 2, 3])["recall"] == 0.0


def test_graph_linkage_equals_exact_average_linkage_without_context():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 64))
    X = np.repeat(centres, 15, axis=0) + rng.normal(scale=0.35, size=(180, 64))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    exact = AverageLinkage(distance=0.3).fit(X).labels_
    graph = GraphAverageLinkage(distance=0.3, context=0.0, k=40).fit(X).labels_
    assert bcubed(exact, graph)["f"] == pytest.approx(1.0)


def _blobs(sizes, spread, seed=0, dim=64):
    """Unit vectors in tight groups of the given sizes around random centres."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=dim) + rng.normal(scale=spread, size=(n, dim)) for n in sizes])
    return X / np.linalg.norm(X, axis=1, keepdims=True), np.repeat(np.arange(len(sizes)), sizes)


def test_size_margin_keeps_single_faces_apart_but_joins_albums():
    pair = np.array([[0, 0.07], [0.07, 0]])                     # two single faces 0.07 apart
    assert _cut_tree(pair, 0.075)[0] == _cut_tree(pair, 0.075)[1]
    apart = _cut_tree(pair, 0.075, size_margin=0.01)            # 0.07 > 0.075 - 0.01
    assert apart[0] != apart[1]
    albums = np.full((24, 24), 0.07)                            # two albums of 12, 0.07 apart
    albums[:12, :12] = albums[12:, 12:] = 0.02
    np.fill_diagonal(albums, 0)
    assert len(set(_cut_tree(albums, 0.075, size_margin=0.01).tolist())) == 1  # < 0.075 - 0.01/sqrt(12)
    assert len(set(_cut_tree(albums, 0.065).tolist())) == 2


def test_stranger_stays_alone_and_fit_validates():
    X, truth = _blobs([6, 6], spread=0.1, seed=3)
    centre = X[:6].mean(axis=0) / np.linalg.norm(X[:6].mean(axis=0))
    off = np.random.default_rng(1).normal(size=X.shape[1])
    off -= (off @ centre) * centre
    stranger = 0.9 * centre + np.sqrt(1 - 0.81) * off / np.linalg.norm(off)   # 0.1 from the centre
    X = np.vstack([X, stranger])
    nearest = float((1 - X[:12] @ stranger).min())
    loose = GraphAverageLinkage(distance=0.3, context=0.0, k=10)
    assert loose.fit(X).labels_[-1] == loose.labels_[0]          # without the rule it joins them
    gated = GraphAverageLinkage(distance=0.3, context=0.0, k=10, stranger_distance=nearest - 1e-3)
    labels = gated.fit(X).labels_
    assert labels[-1] == -1
    assert bcubed(truth, labels[:12])["f"] == 1.0                # the two albums are untouched
    with pytest.raises(ValueError, match="size_margin"):
        GraphAverageLinkage(distance=0.05, size_margin=0.06).fit(X)


def test_around_selects_only_the_new_faces_neighbourhood():
    X, truth = _blobs([5, 5, 5, 5], spread=0.2, seed=4)
    seeds = np.zeros(len(X), bool)
    seeds[0] = True
    near = GraphAverageLinkage(distance=0.3, context=0.0, k=10).around(X, seeds)
    assert near[0] and set(np.flatnonzero(near).tolist()) <= set(np.flatnonzero(truth == 0).tolist())


def test_refine_facesets_are_pure(lfw158_catalog, tmp_path):
    with Catalog.open(lfw158_catalog) as cat:
        stats = refine(cat, out=tmp_path / "refined", link="symlink")
        identity = _main_faces(cat)
        facesets = {p.id for p in cat.people.all() if p.faceset}
        rows = [(f.id, f.person_id) for f in cat.faces.all() if f.person_id in facesets and f.gate is None]
    by_person: dict[int, list[str]] = {}
    for face_id, person in rows:
        if face_id in identity:  # a bystander's identity is unknown
            by_person.setdefault(person, []).append(identity[face_id])
    assert stats["facesets"] >= 30
    purities = [Counter(v).most_common(1)[0][1] / len(v) for v in by_person.values()]
    assert min(purities) >= 0.99, sorted(purities)[:5]
    manifest = json.loads((tmp_path / "refined" / "refine_manifest.json").read_text())
    assert len(manifest["people"]) == stats["facesets"]
    assert all(entry["folder"].startswith("faceset_") for entry in manifest["people"])


def _split_identities(tmp_path: Path, n: int = 14) -> tuple[Path, Path]:
    """First half of each identity's photos in one folder, the rest in another."""
    first, second = tmp_path / "first", tmp_path / "second"
    identities = sorted(d for d in (FACES / "lfw158").iterdir() if len(list(d.iterdir())) >= 16)[:n]
    for person in identities:
        photos = sorted(person.iterdir())
        half = len(photos) // 2
        for target, chunk in ((first, photos[:half]), (second, photos[half:])):
            (target / person.name).mkdir(parents=True, exist_ok=True)
            for photo in chunk:
                shutil.copy2(photo, target / person.name / photo.name)
    return first, second


@pytest.mark.slow
def test_extend_keeps_numbers_and_places_new_faces(tmp_path):
    first, second = _split_identities(tmp_path)
    db = tmp_path / "lib.db"
    run_cli("embed", first, "--catalog", db, "--engine", "dlib", "-q")
    run_cli("cluster", tmp_path / "tree", "--catalog", db, "--link", "hardlink", "-q")
    with Catalog.open(db) as cat:
        before = _people_of(cat)
        identity = _main_faces(cat)
        owner = {}  # identity -> its person (majority)
        for face_id, person in before.items():
            owner.setdefault(identity.get(face_id), Counter())[person] += 1
        owner = {k: v.most_common(1)[0][0] for k, v in owner.items() if k}
        highest = max(p.id for p in cat.people.all())
    run_cli("embed", second, "--catalog", db, "--engine", "dlib", "-q")
    result = run_cli("extend", "--catalog", db, "-q")
    assert "joined" in result.stdout
    with Catalog.open(db) as cat:
        after = _people_of(cat, assigned_only=False)
        identity = _main_faces(cat)
        new_people = [p.id for p in cat.people.all() if p.id > highest]
    assert all(after[f] == p for f, p in before.items()), "an existing face changed person"
    added = [f for f in after if f not in before and f in identity and identity[f] in owner]
    landed = sum(after[f] == owner[identity[f]] for f in added)
    assert len(added) >= 80
    assert landed / len(added) >= 0.95, (landed, len(added))
    assert all(p > highest for p in new_people)
    # the tree written by `cluster` was updated in place: new photos are in their person folder
    manifest = json.loads((tmp_path / "tree" / "manifest.json").read_text())
    assert manifest["provenance"]["command"] == "extend"
    assert sum(len(p["files"]) for p in manifest["people"]) > len({f for f in before})


def test_extend_is_incremental_and_leaves_strangers_alone(lfw158_catalog):
    with Catalog.open(lfw158_catalog) as cat:
        cluster(cat)
        rows = [(f.id, f.person_id, f.clustered_run) for f in cat.faces.all()]
        unassigned = [r[0] for r in rows if r[1] is None]
        biggest = Counter(r[1] for r in rows if r[1] is not None).most_common(1)[0][0]
        returning = [r[0] for r in rows if r[1] == biggest][:3]
        ids, X = cat.faces.embeddings()
        E = dict(zip(ids.tolist(), X))
        D = 1 - X @ X.T
        np.fill_diagonal(D, 9)
        lonely = dict(zip(ids.tolist(), D.min(axis=1) > profile_for("dlib/resnet_v1").cluster_stranger))
        strangers = [f for f in unassigned if lonely[f]][:3]     # nothing near them: one-offs
        with cat.transaction():   # as if these faces had just been embedded
            cat.people.assign(returning + strangers, None, "cluster", None)
        stats = extend(cat)
        run = cat.runs.last("extend").id
        after = {f.id: (f.person_id, f.clustered_run) for f in cat.faces.all()}
    assert stats["new_faces"] == 6
    assert all(after[f][0] == biggest for f in returning)        # known faces rejoin their person
    assert len(strangers) == 3 and all(after[f][0] is None for f in strangers)
    reach = default_algorithm(profile_for("dlib/resnet_v1")).reach()
    new = strangers + returning
    near = {f for f in unassigned if f not in strangers and min(1 - E[f] @ E[s] for s in new) < reach}
    redone = {f for f in unassigned if f not in strangers and after[f][1] == run}
    assert redone <= near                                        # only faces near a new one
    assert len(near) < len(unassigned) - 50                      # ... not every unassigned face


def test_same_photo_faces_never_share_a_person(tmp_path):
    db = tmp_path / "groups.db"
    sources = [FACES / "face_recognition_examples" / "knn_examples" / "test",
               FACES / "face_recognition_examples" / "group_and_misc", PHOTOS / "t1.jpg"]
    run_cli("embed", *sources, "--catalog", db, "--engine", "dlib", "-q")
    # a very loose cut would put everyone together were it not for cannot-link
    run_cli("cluster", "--catalog", db, "-q", "-p", "distance=0.6", "-p", "merge_distance=0.3")
    with Catalog.open(db) as cat:
        rows = [(f.file_id, f.person_id) for f in cat.faces.all() if f.person_id is not None]
        multi = sum(1 for f in cat.files.all() if (f.n_faces or 0) >= 2)
    assert multi >= 3
    pairs = Counter((f, p) for f, p in rows)
    assert max(pairs.values()) == 1, [k for k, v in pairs.items() if v > 1]
    per_photo = Counter(f for f, _ in rows)
    assert max(per_photo.values()) >= 2  # faces of one photo were clustered, into different people


def test_recluster_keeps_user_decisions(lfw158_catalog, tmp_path):
    with Catalog.open(lfw158_catalog) as cat:
        cluster(cat)
        person = max(cat.people.active(), key=lambda p: (p.n_faces, -p.id)).id
        faces = cat.faces.ids_of_person(person)
        with cat.transaction():
            cat.people.rename(person, "Chosen Name")
            cat.people.remove_faces(faces[:1], person)
            other = cat.people.split_faces(faces[1:3])
        numbers = _people_of(cat)
        cluster(cat, params={"distance": 0.07})
        assert cat.people.get(person).name == "Chosen Name"
        assert cat.faces.person_of(faces[0]) != person
        assert {cat.faces.person_of(f) for f in faces[1:3]} == {other}
        after = _people_of(cat)
        same = sum(after.get(f) == p for f, p in numbers.items())
        assert same / len(numbers) >= 0.95  # a near-identical re-cluster keeps people's numbers


def test_cluster_tree_and_bad_input(lfw158_catalog, tmp_path):
    out = tmp_path / "people"
    run_cli("cluster", out, "--catalog", lfw158_catalog, "-q", "--link", "symlink")
    manifest = json.loads((out / "manifest.json").read_text())
    folders = {p["folder"] for p in manifest["people"]}
    assert {d.name for d in out.iterdir() if d.name.startswith("person_")} == folders
    assert (out / "_singletons").is_dir()
    names_first = sorted(p.name for p in out.rglob("*.jpg"))
    run_cli("cluster", out, "--catalog", lfw158_catalog, "-q", "--link", "symlink")
    assert sorted(p.name for p in out.rglob("*.jpg")) == names_first  # stable names across runs
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "mine.txt").write_text("user file")
    refused = run_cli("cluster", tmp_path / "foreign", "--catalog", lfw158_catalog, "-q", check=False)
    assert refused.returncode != 0 and "did not write" in refused.stderr
    assert (tmp_path / "foreign" / "mine.txt").read_text() == "user file"
    missing = run_cli("cluster", "--catalog", tmp_path / "none.db", check=False)
    assert missing.returncode != 0 and "no catalog" in missing.stderr
