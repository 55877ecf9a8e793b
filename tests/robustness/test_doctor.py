"""Issue 8, acceptance 4: `facesets doctor` reports a catalog this test makes inconsistent,
and `--repair` fixes it without deleting a single user decision.

The damage is done with raw SQL on purpose: it stands for a crash, a lost disk or a hand edit,
which no repository of the catalog would ever write. Everything the test reads goes through the
catalog's repositories."""
from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest

from conftest import FACES, run_cli
from facesets.catalog import Catalog

PEOPLE = ["Colin_Powell", "Tony_Blair", "Gerhard_Schroeder"]
EXPECTED_CHECKS = {"orphan_faces", "orphan_aliases", "missing_people", "missing_sources",
                   "embedding_model_mismatch", "faceless_done", "stale_runs",
                   "stale_centroids"}   # the hand-made assignments bypassed the stored centroids


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    base = tmp_path_factory.mktemp("doctor")
    src, db = base / "photos", base / "catalog.db"
    for person in PEOPLE:
        (src / person).mkdir(parents=True)
        for n in (1, 2, 3):
            name = f"{person}_{n:04d}.jpg"
            shutil.copy2(FACES / "lfw158" / person / name, src / person / name)
    (src / "copies").mkdir()
    shutil.copy2(src / PEOPLE[0] / f"{PEOPLE[0]}_0001.jpg", src / "copies" / "again.jpg")
    run_cli("embed", src, "--catalog", db, "--engine", "dlib", "-q")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = OFF")
    face = {}  # first face of each photo, by photo stem
    for face_id, file_id, path in conn.execute(
            "SELECT faces.id, files.id, files.path FROM faces JOIN files ON files.id = faces.file_id "
            "WHERE face_index = 0 ORDER BY path"):
        face[path.rsplit("/", 1)[1][:-4]] = (face_id, file_id, path)
    cp1, cp2, cp3 = (face[f"Colin_Powell_000{n}"] for n in (1, 2, 3))
    tb1, tb2, tb3 = (face[f"Tony_Blair_000{n}"] for n in (1, 2, 3))
    gs1, gs2, gs3 = (face[f"Gerhard_Schroeder_000{n}"] for n in (1, 2, 3))
    # -- user decisions ---------------------------------------------------------------------
    conn.execute("INSERT INTO people(id, name) VALUES (1, 'Colin ../../Powell'), (2, NULL), (3, 'Tony')")
    conn.execute("INSERT INTO people(id, name, merged_into) VALUES (4, 'Tony B', 3)")
    conn.execute("UPDATE faces SET person_id = 1, assigned_by = 'user' WHERE id IN (?, ?)", (cp1[0], cp2[0]))
    conn.execute("UPDATE faces SET person_id = 2, assigned_by = 'cluster' WHERE id IN (?, ?)", (gs1[0], gs2[0]))
    conn.execute("UPDATE faces SET person_id = 3, assigned_by = 'user' WHERE id = ?", (tb1[0],))
    conn.execute("INSERT INTO face_exclusions(face_id, person_id) VALUES (?, 3)", (tb2[0],))
    conn.commit()
    decisions = _decisions(db)
    # -- damage -----------------------------------------------------------------------------
    conn.execute("DELETE FROM files WHERE id = ?", (cp1[1],))                      # orphan faces (user-assigned)
    conn.execute("INSERT INTO aliases(path, file_id, size, mtime_ns) VALUES ('/nowhere/x.jpg', 99999, 1, 1)")
    conn.execute("DELETE FROM people WHERE id = 2")                                  # faces point at no person
    (src / PEOPLE[2] / f"{PEOPLE[2]}_0003.jpg").unlink()                             # a source vanished
    conn.execute("INSERT INTO models(engine, model, dim, detector, landmark_scheme) "
                 "VALUES ('insightface', 'buffalo_l/w600k_r50.onnx', 512, 'det_10g', 'arcface5')")
    other = conn.execute("SELECT max(id) FROM models").fetchone()[0]
    conn.execute("UPDATE faces SET model_id = ? WHERE id = ?", (other, cp3[0]))      # another model's face
    conn.execute("UPDATE faces SET embedding = ? WHERE id = ?", (b"\0" * 12, tb3[0]))  # wrong length
    conn.execute("DELETE FROM faces WHERE file_id = ?", (gs2[1],))                   # done, but faces lost
    conn.execute("INSERT INTO runs(command, params, status) VALUES ('embed', '{}', 'running')")  # a crash
    conn.commit()
    conn.close()
    return {"src": src, "db": db, "decisions": decisions}


def _decisions(db) -> dict:
    with Catalog.open(db, readonly=True) as catalog:
        people = catalog.people.all()
        return {
            "names": sorted((p.id, p.name) for p in people if p.name is not None),
            "merges": sorted((p.id, p.merged_into) for p in people if p.merged_into is not None),
            "exclusions": sorted(catalog.people.exclusions()),
            "user_assignments": sorted((f.id, f.person_id) for f in catalog.faces.all() if f.assigned_by == "user"),
        }


def test_doctor_reports_and_repairs_without_losing_decisions(damaged):
    db = damaged["db"]
    report = run_cli("doctor", "--catalog", db, "--json", check=False)
    assert report.returncode == 1, report.stdout + report.stderr
    found = {f["check"]: f for f in json.loads(report.stdout)["findings"]}
    assert set(found) == EXPECTED_CHECKS, found.keys()
    assert found["embedding_model_mismatch"]["count"] == 2
    # people 1 and 3; person 2 has no row, so its faces count nowhere until missing_people re-creates it
    assert found["stale_centroids"]["count"] == 2
    text = run_cli("doctor", "--catalog", db, check=False)
    assert text.returncode == 1 and "--repair" in text.stdout and "missing_sources" in text.stdout

    repaired = run_cli("doctor", "--catalog", db, "--repair", check=False)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    again = run_cli("doctor", "--catalog", db, check=False)
    assert again.returncode == 0 and "healthy" in again.stdout, again.stdout

    assert _decisions(db) == damaged["decisions"]
    with Catalog.open(db, readonly=True) as catalog:
        assert catalog.people.get(2) is not None                                 # re-created, faces kept
        assert sum(1 for f in catalog.faces.all() if f.person_id == 2) == 1
        [gone] = [f for f in catalog.files.all() if f.path.endswith("Gerhard_Schroeder_0003.jpg")]
        assert gone.status == "missing"
        assert catalog.runs.running() == []
        assert catalog.counts()["pending"] == 3  # the two mismatched photos and the one that lost its faces

    # the re-queued photos are embedded again by the next run; still healthy, decisions intact
    run_cli("embed", damaged["src"], "--catalog", db, "--engine", "dlib", "-q")
    assert run_cli("doctor", "--catalog", db, check=False).returncode == 0
    assert _decisions(db) == damaged["decisions"]
    with Catalog.open(db, readonly=True) as catalog:
        assert catalog.counts()["pending"] == 0
        done = {f.id for f in catalog.files.all() if f.status == "done"}
        for face in catalog.faces.all():
            if face.file_id in done:
                assert abs(np.linalg.norm(face.embedding) - 1) < 1e-3


def test_repair_refuses_while_another_process_writes(tmp_path):
    db = tmp_path / "c.db"
    holder = Catalog.open(db)
    holder.acquire_writer_lock("embed")
    try:
        busy = run_cli("doctor", "--catalog", db, "--repair", check=False)
        assert busy.returncode != 0 and "in use by another facesets process" in busy.stderr
        assert run_cli("doctor", "--catalog", db, check=False).returncode == 0  # reading is fine
    finally:
        holder.close()


def test_doctor_on_a_missing_catalog_is_a_one_line_error(tmp_path):
    proc = run_cli("doctor", "--catalog", tmp_path / "none.db", check=False)
    assert proc.returncode == 2 and "no catalog" in proc.stderr and not (tmp_path / "none.db").exists()
