"""The faces repository: subsets read as subsets, embeddings in one matrix, verdicts written."""
from __future__ import annotations

import numpy as np

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import AssignedBy, FaceFilter


def _library(cat):
    a = add_photo(cat, "/p/a.jpg", [unit(1), unit(0, 1)])
    b = add_photo(cat, "/p/b.jpg", [unit(1, 0.1)])
    c = add_photo(cat, "/p/c.jpg", [unit(0, 0, 1)])
    faces = [f.id for f in cat.faces.all()]
    alice = cat.people.create(name="Alice")
    cat.people.assign(faces[:1] + faces[2:3], alice, AssignedBy.CLUSTER, run_id=1)
    return a, b, c, faces, alice


def test_filters_select_only_their_faces(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, _, c, faces, alice = _library(cat)
        ids, X = cat.faces.embeddings()
        assert ids.tolist() == faces and X.shape == (4, 8) and X.dtype == np.float32
        assert np.allclose(X[0], unit(1))
        assert cat.faces.embeddings(FaceFilter(people=(alice,)))[0].tolist() == [faces[0], faces[2]]
        assert cat.faces.embeddings(FaceFilter(unassigned=True))[0].tolist() == [faces[1], faces[3]]
        assert cat.faces.embeddings(FaceFilter(people=(alice,), unassigned=True))[0].tolist() == faces
        assert cat.faces.embeddings(FaceFilter(files=(a, c)))[0].tolist() == [faces[0], faces[1], faces[3]]
        assert cat.faces.embeddings(FaceFilter(people=()))[0].tolist() == []
        assert cat.faces.embeddings(FaceFilter(unassigned=True, new_only=True))[0].tolist() == [faces[1], faces[3]]
        cat.faces.set_clustered_run([faces[1]], 5)
        assert cat.faces.embeddings(FaceFilter(unassigned=True, new_only=True))[0].tolist() == [faces[3]]
        cat.people.remove_faces([faces[2]], alice)
        assert cat.faces.embeddings(FaceFilter(unassigned=True, excluding_removed_from=alice))[0].tolist() == \
            [faces[1], faces[3]]
        assert cat.faces.count(FaceFilter(unassigned=True)) == 3


def test_cluster_input_marks_user_and_import_placements_kept(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, b, _, faces, alice = _library(cat)
        cat.people.move_faces([faces[1]], alice)                 # the user's decision
        data = cat.faces.cluster_input()
        assert data.ids.tolist() == faces
        assert data.files.tolist() == [a, a, b, cat.faces.all()[3].file_id]
        assert data.current.tolist() == [alice, alice, alice, -1]
        assert data.kept.tolist() == [False, True, False, False]
        ids, X, files, current, kept = data                      # unpacks like the tuple it replaced
        assert len(data) == 4 and X.shape == (4, 8)


def test_a_new_detection_replaces_the_files_faces(tmp_path):
    from facesets.catalog import NewFace

    with new_catalog(tmp_path) as cat:
        a, _, _, faces, alice = _library(cat)
        model = cat.embedding_model()
        again = [NewFace(np.array([0, 0, 50, 50], np.float32), None, 0.8, 50.0, 10.0, unit(0, 0, 0, 1))]
        cat.faces.replace_unassigned(a, again, model_id=model.id, input_mode="photos", run_id=2)
        [after] = cat.faces.all(FaceFilter(files=(a,)))
        assert after.id not in faces and after.box == (0.0, 0.0, 50.0, 50.0)
        assert np.allclose(after.embedding, unit(0, 0, 0, 1)) and after.person_id is None


def test_gate_details_quality_enrichment_and_snapshots(tmp_path):
    with new_catalog(tmp_path) as cat:
        _, _, _, faces, alice = _library(cat)
        gate = cat.faces.gate_input()
        assert gate.ids.tolist() == [faces[0], faces[2]] and gate.people.tolist() == [alice, alice]
        assert gate.short_edge.tolist() == [80.0, 80.0] and gate.X.shape == (2, 8)
        cat.faces.set_gates({faces[0]: None, faces[2]: "blur"})
        assert [f.gate for f in cat.faces.all()][:3] == [None, None, "blur"]
        assert cat.faces.person_in_photo(cat.faces.all()[0].file_id, alice)
        assert cat.faces.person_photos(in_faceset_only=True) == [(alice, cat.faces.all()[0].file_id)]
        detail = cat.faces.details([faces[2]])[faces[2]]
        assert detail.path == "/p/b.jpg" and detail.quality is None and detail.composite > 0
        cat.faces.set_quality([(faces[2], {"q_frontal": 0.5, "q_det": 0.4, "q_symmetry": 0.3, "q_size": 0.2,
                                           "q_sharp": 0.1, "quality": 0.35})])
        assert cat.faces.details([faces[2]])[faces[2]].composite == 0.35
        assert cat.faces.ids(unscored_only=True) == [faces[0], faces[1], faces[3]]
        [quality_input] = cat.faces.quality_inputs([faces[2]])
        assert quality_input.detector == "hog" and quality_input.landmark_scheme == "dlib5"
        cat.faces.set_enrichment([(faces[0], np.ones((68, 2), np.float32), (1.0, 2.0, 3.0))], run_id=7)
        enriched = cat.faces.all()[0]
        assert enriched.pose == (1.0, 2.0, 3.0) and enriched.enriched_run == 7
        assert enriched.landmarks_dense.shape == (68, 2)
        assert [b.id for b in cat.faces.to_enrich()] == [faces[2]]   # people's faces not yet enriched
        snapshot = cat.faces.assignments([alice], [faces[3]])
        cat.people.assign([faces[0], faces[3]], None, AssignedBy.CURATE)
        cat.faces.restore_assignments(snapshot)
        assert cat.faces.assignments([alice], [faces[3]]) == snapshot
