"""Small synthetic catalogs for the repository unit tests: files, faces and people written
through the repositories themselves, with embeddings chosen by the test."""
from __future__ import annotations

import numpy as np

from facesets.catalog import Catalog, FileStatus, NewFace

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
