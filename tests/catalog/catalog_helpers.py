"""Small synthetic catalogs for the repository unit tests: files, faces and people written
through the repositories themselves, with embeddings chosen by the test."""
from __future__ import annotations

import numpy as np

from facesets.catalog import AssignedBy, Catalog, FileStatus, NewFace

DIM = 8


def new_catalog(tmp_path, name: str = "c.db") -> Catalog:
    catalog = Catalog.open(tmp_path / name)
    catalog.register_model("dlib", "resnet_v1", DIM, "hog", "dlib5")
    return catalog


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIM, np.float32)
    vector[:len(values)] = values
    return vector / np.linalg.norm(vector)


def add_photo(catalog: Catalog, path: str, embeddings: list[np.ndarray], run_id: int | None = None) -> int:
    """A photo embedded with one face per embedding (boxes side by side); returns its file id."""
    model = catalog.embedding_model()
    with catalog.transaction():
        catalog.files.add_pending(path, 100, 1, f"sha-{path}", run_id)
        file_id = catalog.files.id_for_path(path)
        faces = [NewFace(np.array([10 + 100 * i, 10, 90 + 100 * i, 90], np.float32), None, 0.9, 80.0, 50.0, e)
                 for i, e in enumerate(embeddings)]
        catalog.faces.replace_unassigned(file_id, faces, model_id=model.id, input_mode="photos", run_id=run_id)
        catalog.files.mark_embedded(file_id, FileStatus.DONE if faces else FileStatus.NOFACE, width=400,
                                    height=100, taken_at=None, model_id=model.id, input_mode="photos",
                                    n_faces=len(faces), run_id=run_id)
    return file_id


# -- review: embeddings at chosen cosine distances --
def toward(axis: int, distance: float, side: int) -> np.ndarray:
    """A unit vector at `distance` (cosine) from the unit vector of `axis`, leaning to `side`."""
    vector = np.zeros(DIM, np.float32)
    vector[axis] = 1.0 - distance
    vector[side] = np.sqrt(1.0 - (1.0 - distance) ** 2)
    return vector


def person_at(cat, axis: int, n: int = 4, spread: float = 0.004, name: str | None = None) -> tuple[int, list[int]]:
    """A person of n faces around `axis` (one photo each), centroid on the axis."""
    faces = []
    for i in range(n):
        side = 6 if i % 2 == 0 else 7
        vector = toward(axis, spread, side)
        if i % 4 >= 2:
            vector[side] = -vector[side]
        file_id = add_photo(cat, f"/p/{axis}/{i}.jpg", [vector])
        faces += [f.id for f in cat.faces.all() if f.file_id == file_id]
    person = cat.people.create(name=name)
    cat.people.assign(faces, person, AssignedBy.CLUSTER)
    return person, faces
