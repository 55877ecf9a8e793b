"""Stored person centroids (catalog/centroids.py): every change to people keeps them equal to a
recomputation from the faces, an older catalog gets them computed by its migration, and the
doctor finds and repairs rows a hand edit left stale."""
from __future__ import annotations

import random
import sqlite3

import numpy as np

from catalog_helpers import DIM, add_photo, new_catalog, unit
from facesets.catalog import AssignedBy, Catalog, NewFace
from facesets.catalog.database import _split_sql
from facesets.catalog.schema import MIGRATIONS
from facesets.doctor import diagnose


def _from_faces(cat: Catalog, gated: bool) -> dict[int, np.ndarray]:
    """Each person's centroid the way it was computed before it was stored: the mean of its
    faces (with `gated`, of those refine kept unless it kept none), unit length."""
    faces: dict[int, list] = {}
    for face in cat.faces.all():
        if face.person_id is not None:
            faces.setdefault(face.person_id, []).append(face)
    found = {}
    for person, members in faces.items():
        kept = [f for f in members if f.gate is None] if gated else members
        mean = np.mean([f.embedding for f in (kept or members)], axis=0)
        found[person] = mean / np.linalg.norm(mean)
    return found


def _check(cat: Catalog) -> None:
    assert cat.integrity.stale_centroids() == []
    for gated in (False, True):
        ids, matrix = cat.people.centroids(gated=gated)
        expected = _from_faces(cat, gated)
        assert ids.tolist() == sorted(expected)
        for person, row in zip(ids.tolist(), matrix):
            assert np.allclose(row, expected[person], atol=1e-6), (person, gated)


def _library(cat: Catalog, n_photos: int = 12, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    for i in range(n_photos):
        add_photo(cat, f"/p/{i}.jpg", [v / np.linalg.norm(v) for v in rng.standard_normal((1 + i % 3, DIM))])
    return [f.id for f in cat.faces.all()]


def test_every_change_to_people_keeps_centroids_equal_to_a_recomputation(tmp_path):
    with new_catalog(tmp_path) as cat:
        faces = _library(cat)
        a, b, c = cat.people.create(), cat.people.create(name="Bo"), cat.people.create()
        cat.people.assign(faces[:8], a, AssignedBy.CLUSTER)
        cat.people.assign(faces[8:14], b, AssignedBy.CLUSTER)
        cat.people.assign(faces[14:18], c, AssignedBy.CLUSTER)
        _check(cat)
        cat.faces.set_gates({faces[0]: "blur", faces[1]: None, faces[9]: "small", faces[14]: "outlier"})
        _check(cat)
        cat.faces.set_gates({f: "blur" for f in faces[14:18]})          # c kept nothing: all faces count
        _check(cat)
        undo = cat.faces.assignments([a, b], [faces[20]])
        cat.people.remove_faces([faces[2], faces[9], faces[20]], a)     # faces[9] is b's: not removed
        _check(cat)
        cat.people.move_faces([faces[3], faces[10]], c)
        _check(cat)
        split = cat.people.split_faces([faces[4], faces[0]], name="Split")   # a gated face moves too
        _check(cat)
        cat.people.merge([c], b)
        _check(cat)
        assert cat.people.centroids([c])[0].tolist() == []              # merged away: no row
        cat.faces.restore_assignments(undo)                             # curation's undo
        _check(cat)
        cat.people.delete_created([split])
        _check(cat)
        cat.people.assign([faces[5]], None, AssignedBy.CLUSTER)
        _check(cat)
        # embedding a photo again replaces a placed face at the same index: it leaves its person
        file_of = {f.id: f.file_id for f in cat.faces.all()}
        model = cat.embedding_model()
        cat.faces.replace_unassigned(file_of[faces[6]], [NewFace(np.array([0, 0, 50, 50], np.float32), None, 0.9,
                                                                 50.0, 9.0, unit(0, 0, 1))],
                                     model_id=model.id, input_mode="photos", run_id=None)
        _check(cat)
        cat.integrity.drop_faces_and_requeue([faces[7], faces[11]])
        _check(cat)
        # a whole clustering written in one go: faces to several people and to nobody
        cat.people.place([(faces[12], a), (faces[13], b), (faces[15], None), (faces[16], a), (faces[17], b)],
                         AssignedBy.CLUSTER, run_id=None)
        _check(cat)
        assert {f.id: f.person_id for f in cat.faces.all() if f.id in (faces[12], faces[15])} == {faces[12]: a,
                                                                                                  faces[15]: None}


def test_random_sequences_of_changes_keep_centroids_exact(tmp_path):
    """Integer sums: any order of updates equals the recomputation bit for bit."""
    with new_catalog(tmp_path) as cat:
        faces = _library(cat, n_photos=20, seed=1)
        rng = random.Random(3)
        people = [cat.people.create() for _ in range(4)]
        for _ in range(60):
            pick = rng.sample(faces, rng.randint(1, 6))
            step = rng.choice(["assign", "unassign", "remove", "move", "merge", "gate", "split"])
            alive = sorted(cat.people.alive_ids())
            if step == "assign" or not alive:
                people.append(cat.people.create())
                cat.people.assign(pick, rng.choice(people[-3:]), AssignedBy.CLUSTER)
            elif step == "unassign":
                cat.people.assign(pick, None, AssignedBy.CLUSTER)
            elif step == "remove":
                cat.people.remove_faces(pick, rng.choice(alive))
            elif step == "move":
                cat.people.move_faces(pick, rng.choice(alive))
            elif step == "merge" and len(alive) > 1:
                cat.people.merge(rng.sample(alive, 2), rng.choice(alive))
            elif step == "gate":
                cat.faces.set_gates({f: rng.choice([None, "blur"]) for f in pick})
            elif step == "split":
                cat.people.split_faces(pick)
            assert cat.integrity.stale_centroids() == [], step
        _check(cat)


def _old_catalog(path, faces_of: dict[int, list[np.ndarray]]) -> None:
    """A catalog as the release before stored centroids wrote it (raw SQL at that schema):
    people with faces, one of them gated."""
    before = next(i for i, m in enumerate(MIGRATIONS) if "person_centroids" in m)
    raw = sqlite3.connect(path)
    for migration in MIGRATIONS[:before]:
        for statement in _split_sql(migration):
            raw.execute(statement)
    raw.execute(f"PRAGMA user_version = {before}")
    raw.execute("INSERT INTO models(engine, model, dim, detector, landmark_scheme) VALUES ('dlib', 'resnet_v1', ?, "
                "'hog', 'dlib5')", (DIM,))
    raw.execute("INSERT INTO meta(key, value) VALUES ('embedding_model', 'dlib/resnet_v1')")
    for person, vectors in faces_of.items():
        raw.execute("INSERT INTO people(id) VALUES (?)", (person,))
        for i, v in enumerate(vectors):
            file_id = raw.execute("INSERT INTO files(path, size, mtime_ns, status) VALUES (?, 1, 1, 'done')",
                                  (f"/p/{person}-{i}.jpg",)).lastrowid
            raw.execute("INSERT INTO faces(file_id, face_index, x1, y1, x2, y2, det_score, short_edge, embedding, "
                        "model_id, person_id, assigned_by, gate) VALUES (?, 0, 0, 0, 9, 9, 1, 9, ?, 1, ?, 'cluster', ?)",
                        (file_id, v.astype(np.float32).tobytes(), person, "blur" if i == 0 else None))
    raw.commit()
    raw.close()


def test_an_older_catalog_gets_its_centroids_computed_by_the_migration(tmp_path):
    path = tmp_path / "old.db"
    _old_catalog(path, {3: [unit(1), unit(1, 0.3), unit(1, 0.1)], 7: [unit(0, 1), unit(0, 1, 0.2)]})
    with Catalog.open(path) as cat:
        assert cat.get_meta("centroids_stale") is None
        ids, _ = cat.people.centroids()
        assert ids.tolist() == [3, 7]
        _check(cat)



def test_an_older_catalog_with_faces_of_a_deleted_person_opens_and_the_doctor_repairs_it(tmp_path):
    path = tmp_path / "old.db"
    _old_catalog(path, {3: [unit(1), unit(1, 0.3)], 7: [unit(0, 1), unit(0, 1, 0.2)]})
    raw = sqlite3.connect(path)   # damage: person 7's row gone, its faces still point at it
    raw.execute("DELETE FROM people WHERE id = 7")
    raw.commit()
    raw.close()
    with Catalog.open(path) as cat:                  # the migration computes what it can
        assert cat.people.centroids()[0].tolist() == [3]
        faces_of_7 = [f.id for f in cat.faces.all() if f.person_id == 7]
        cat.people.assign(faces_of_7[:1], 3, AssignedBy.CLUSTER)   # a face leaves the missing person
        findings = {f.check: f for f in diagnose(cat, repair=True).findings}
        assert findings["missing_people"].repaired == 1
        assert {f.check for f in diagnose(cat).findings} <= {"missing_sources"}   # the photos are not on disk
        assert cat.people.centroids()[0].tolist() == [3, 7]
        _check(cat)

def test_doctor_finds_and_repairs_stale_centroids(tmp_path):
    with new_catalog(tmp_path) as cat:
        faces = _library(cat)
        a, b = cat.people.create(), cat.people.create()
        cat.people.assign(faces[:5], a, AssignedBy.CLUSTER)
        cat.people.assign(faces[5:9], b, AssignedBy.CLUSTER)
        assert _stale_findings(cat) == []
    raw = sqlite3.connect(tmp_path / "c.db")   # a hand edit, as no repository would write it
    raw.execute("UPDATE faces SET person_id = ? WHERE id = ?", (b, faces[0]))
    raw.execute("UPDATE faces SET person_id = ? WHERE id = ?", (a, faces[12]))
    raw.commit()
    raw.close()
    with Catalog.open(tmp_path / "c.db") as cat:
        [finding] = _stale_findings(cat)
        assert finding.count == 2 and sorted(finding.examples) == [f"person id {a}", f"person id {b}"]
        [repaired] = _stale_findings(cat, repair=True)
        assert repaired.repaired == 2
        assert _stale_findings(cat) == []
        _check(cat)


def _stale_findings(cat: Catalog, repair: bool = False) -> list:
    """The doctor's stale-centroid findings (the synthetic photos are not on disk: the
    missing-sources check is not this test's business)."""
    return [f for f in diagnose(cat, repair=repair).findings if f.check == "stale_centroids"]
