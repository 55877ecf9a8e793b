"""The web room's catalog fixture for the repository tests (imported by the test modules, not a
conftest): a small catalog built through the repositories."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from facesets.catalog import AssignedBy, Catalog, FileStatus, NewFace, PersonStatus
from facesets.catalog.faces import QUALITY_COMPONENTS

PHOTOS = itertools.count()


def add_face(cat: Catalog, *, taken_at: str | None = None, quality: float | None = None, short_edge: float = 100.0,
             score: float = 0.9, person: int | None = None) -> int:
    """One photo holding one face (optionally in a person, with a composite quality)."""
    model = cat.embedding_model() or cat.register_model("dlib", "resnet_v1", 4, "hog", "dlib5")
    path = f"/photos/{next(PHOTOS)}.jpg"
    cat.files.add_pending(path, 1, 0, path, None)
    file_id = cat.files.lookup(path).id
    cat.files.mark_embedded(file_id, FileStatus.DONE, width=200, height=200, taken_at=taken_at, model_id=model.id,
                            input_mode="photos", n_faces=1, run_id=None)
    vector = np.random.default_rng(file_id).standard_normal(4).astype(np.float32)
    box = np.array([10, 10, 10 + short_edge, 10 + short_edge], np.float32)
    cat.faces.replace_unassigned(file_id, [NewFace(box, None, score, short_edge, None, vector / np.linalg.norm(vector))],
                                 model_id=model.id, input_mode="photos", run_id=None)
    face = cat.faces.first_of_file(file_id)[0]
    if person is not None:
        cat.people.assign([face], person, AssignedBy.CLUSTER)
    if quality is not None:
        cat.faces.set_quality([(face, {**dict.fromkeys(QUALITY_COMPONENTS), "quality": quality})])
    return face


@pytest.fixture
def cat(tmp_path):
    """Alice (3 faces, named), person 2 (2 faces, thin), person 3 (1 face, and the one of person 5
    merged into it), Bob (4 faces, named), and one face nobody holds."""
    with Catalog.open(tmp_path / "catalog.db") as cat:
        with cat.transaction():
            alice = cat.people.create(name="Alice")
            two = cat.people.create(status=PersonStatus.THIN)
            three = cat.people.create()
            bob = cat.people.create(name="Bob", pinned=True)
            five = cat.people.create()
            for q, day in ((0.5, "2001-05-01"), (0.9, "1999-01-02"), (0.7, None)):
                add_face(cat, quality=q, taken_at=day, person=alice)
            for edge in (50, 120):
                add_face(cat, short_edge=edge, person=two)            # not enriched: size x score ranks them
            add_face(cat, quality=0.2, person=three)
            for q in (0.1, 0.2, 0.3, 0.4):
                add_face(cat, quality=q, person=bob)
            add_face(cat, quality=0.6, person=five)
            cat.people.merge([five], three)
            add_face(cat)
        cat.ids = dict(alice=alice, two=two, three=three, bob=bob, five=five)
        yield cat
