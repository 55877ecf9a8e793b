"""Repository methods the catalog at scale adds: bulk loading of photos embedded elsewhere,
the removals of some faces only, new faces found by index."""
from __future__ import annotations

import numpy as np
import pytest

from catalog_helpers import DIM, add_photo, new_catalog, unit
from facesets.catalog import AssignedBy, BulkPhotos, FaceFilter


def _bulk(paths, faces_per_photo, seed=0):
    rng = np.random.default_rng(seed)
    m = int(sum(faces_per_photo))
    X = rng.standard_normal((m, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    boxes = np.tile([10.0, 20.0, 110.0, 160.0], (m, 1))
    return BulkPhotos(paths, np.tile([640, 480], (len(paths), 1)), faces_per_photo, boxes, np.full(m, 0.8), X), X


def test_add_embedded_photos_writes_files_and_faces_as_embed_would(tmp_path):
    with new_catalog(tmp_path) as cat:
        add_photo(cat, "/p/first.jpg", [unit(1)])
        photos, X = _bulk(["/b/0.jpg", "/b/1.jpg", "/b/2.jpg"], [2, 0, 1])
        ids = cat.faces.add_embedded_photos(photos, model_id=cat.embedding_model().id, run_id=None)
        assert len(ids) == 3 and ids[0] > cat.files.id_for_path("/p/first.jpg")
        assert [cat.files.id_for_path(f"/b/{i}.jpg") for i in range(3)] == ids.tolist()
        counts = cat.counts()
        assert (counts["files"], counts["faces"], counts["embedded"], counts["no_face"]) == (4, 4, 3, 1)
        new = [f for f in cat.faces.all() if f.file_id in ids.tolist()]
        assert [(f.file_id, f.face_index) for f in new] == [(ids[0], 0), (ids[0], 1), (ids[2], 0)]
        assert np.array_equal(np.stack([f.embedding for f in new]), X)
        assert new[0].box == (10.0, 20.0, 110.0, 160.0) and new[0].short_edge == 100.0
        assert cat.faces.count(FaceFilter(unassigned=True, new_only=True)) == 4
        with pytest.raises(ValueError, match="do not add up"):
            BulkPhotos(["/b/x.jpg"], np.array([[1, 1]]), [2], np.zeros((1, 4)), np.zeros(1), X[:1])


def test_exclusions_of_reads_only_the_faces_asked(tmp_path):
    with new_catalog(tmp_path) as cat:
        add_photo(cat, "/p/a.jpg", [unit(1), unit(0, 1), unit(0, 0, 1)])
        f = [face.id for face in cat.faces.all()]
        a, b = cat.people.create(), cat.people.create()
        cat.people.assign(f, a, AssignedBy.CLUSTER)
        cat.people.remove_faces([f[0], f[1]], a)
        cat.people.move_faces([f[2]], b)
        assert cat.people.exclusions_of([f[0], f[2]]) == {(f[0], a), (f[2], a)}
        assert cat.people.exclusions_of([]) == set()
        assert cat.people.exclusions_of(f) == cat.people.exclusions()
