"""FacesRepo.owners (curation's staleness checks) on a temporary catalog."""
from __future__ import annotations

import numpy as np

from facesets.catalog import AssignedBy, Catalog, NewFace


def _catalog_with_faces(path, n_files: int = 3, per_file: int = 2) -> tuple[Catalog, list[int]]:
    cat = Catalog.open(path)
    model = cat.register_model("dlib", "resnet_v1", 4, "hog", "dlib5")
    faces = []
    with cat.transaction():
        for index in range(n_files):
            cat.files.add_pending(f"/photos/{index}.jpg", 1, 1, f"{index:064x}", None)
            file_id = cat.files.lookup(f"/photos/{index}.jpg").id
            cat.faces.replace_unassigned(file_id, [
                NewFace(np.array([0, 0, 10, 10]), None, 0.9, 10.0, None, np.eye(4, dtype=np.float32)[k])
                for k in range(per_file)], model_id=model.id, input_mode="photos", run_id=None)
            faces += [face_id for face_id, _, _ in cat.faces.of_file(file_id)]
    return cat, faces


def test_owners_maps_faces_to_their_person_and_leaves_out_missing_faces(tmp_path):
    cat, faces = _catalog_with_faces(tmp_path / "catalog.db")
    with cat:
        ada, bob = cat.people.create(name="Ada"), cat.people.create()
        cat.people.assign(faces[:2], ada, AssignedBy.USER)
        cat.people.assign(faces[2:3], bob, AssignedBy.CLUSTER)
        missing = max(faces) + 100
        owners = cat.faces.owners([*faces, missing])
        assert owners == {faces[0]: ada, faces[1]: ada, faces[2]: bob,
                          **{f: None for f in faces[3:]}}
        assert missing not in owners
        assert cat.faces.owners([]) == {}
        assert cat.faces.owners(faces[4:]) == {f: None for f in faces[4:]}   # only the subset asked for


def test_owners_reads_more_faces_than_one_statement_binds(tmp_path):
    cat, faces = _catalog_with_faces(tmp_path / "catalog.db", n_files=500, per_file=2)
    with cat:
        person = cat.people.create()
        cat.people.assign(faces[::2], person, AssignedBy.CURATE)
        owners = cat.faces.owners(faces)
        assert len(faces) == 1000 and len(owners) == 1000
        assert [owners[f] for f in faces] == [person if i % 2 == 0 else None for i in range(1000)]
