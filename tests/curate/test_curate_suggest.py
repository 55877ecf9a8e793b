"""What the review queue proposes (curate.suggest), on catalogs whose embeddings sit at chosen
cosine distances (dlib's profile: match 0.05, review band 0.075, merges between 0.02 and 0.03):
faces in nobody within the band, weak members, consolidate's uncertain pairs; never a pair the
user ruled out, a hidden person, a person already in that photo, people kept apart."""
from __future__ import annotations

import numpy as np
import pytest

from catalog.catalog_helpers import add_photo, new_catalog, person_at, toward
from facesets.catalog import AssignedBy
from facesets.curate import consolidate
from facesets.curate.age_split import age_at, age_label
from facesets.curate.suggest import confidence, cuts, proposals
from facesets.profiles import DLIB


def loose_face(cat, name: str, vector: np.ndarray) -> int:
    file_id = add_photo(cat, f"/p/loose/{name}.jpg", [vector])
    return next(f.id for f in cat.faces.all() if f.file_id == file_id)


def by_face(items) -> dict[int, object]:
    return {item.face_id: item for item in items if item.face_id is not None}


def test_faces_in_nobody_within_the_band_nearest_first_with_their_confidence(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, _ = person_at(cat, 0)
        b, _ = person_at(cat, 1)
        sure = loose_face(cat, "sure", toward(0, 0.03, 5))
        doubt = loose_face(cat, "doubt", toward(0, 0.055, 5))
        far = loose_face(cat, "far", toward(0, 0.2, 5))
        items = by_face(proposals(cat))
        assert set(items) == {sure, doubt}
        assert [c.person_id for c in items[sure].choices][:2] == [a, b]
        assert items[sure].kind == "face" and items[sure].was is None
        assert items[sure].confidence > 0.9 > items[doubt].confidence > 0.1
        assert far not in items
        assert [i.face_id for i in proposals(cat) if i.face_id][:2] == [sure, doubt]   # surest first


def test_confidence_is_09_at_the_sure_distance_01_at_the_band_edge():
    limits = (DLIB.review_sure, DLIB.review_distance)
    assert confidence(limits[0], *limits) == pytest.approx(0.9)
    assert confidence(sum(limits) / 2, *limits) == pytest.approx(0.5)
    assert confidence(limits[1], *limits) == pytest.approx(0.1)
    assert DLIB.review_sure < DLIB.match_distance < DLIB.review_distance   # the band is wider than extend's


def test_never_a_ruled_out_pair_a_hidden_person_or_a_person_already_in_the_photo(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, a_faces = person_at(cat, 0)
        b, _ = person_at(cat, 1)
        ruled = loose_face(cat, "ruled", toward(0, 0.02, 5))
        cat.people.remove_faces([ruled], a)                     # the user said: not a
        both = add_photo(cat, "/p/two.jpg", [toward(0, 0.01, 6), toward(0, 0.02, 5)])
        first, second = [f.id for f in cat.faces.all() if f.file_id == both]
        cat.people.assign([first], a, AssignedBy.CLUSTER)      # a is in that photo already
        near_b = loose_face(cat, "near_b", toward(1, 0.02, 5))
        items = by_face(proposals(cat))
        assert ruled not in items and second not in items and near_b in items
        cat.people.set_hidden([b])
        assert near_b not in by_face(proposals(cat))
        assert cuts(cat).review == DLIB.review_distance and cuts(cat).match == DLIB.match_distance


def test_weak_members_are_far_from_their_persons_other_faces_unless_the_user_put_them_there(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, faces = person_at(cat, 0, n=6)
        b, _ = person_at(cat, 1)
        stray = loose_face(cat, "stray", toward(1, 0.03, 5))    # b's look, clustered into a
        cat.people.assign([stray], a, AssignedBy.CLUSTER)
        items = by_face(proposals(cat))
        assert items[stray].kind == "weak" and items[stray].was == a
        assert [c.person_id for c in items[stray].choices] == [b, a]     # nearest first: move to b, or keep
        assert not any(items.get(f) for f in faces)                     # the others sit close
        cat.people.move_faces([stray], a)                               # the user keeps it there
        assert stray not in by_face(proposals(cat))


def test_uncertain_merges_are_proposed_as_pairs_confident_ones_and_kept_apart_ones_not(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, _ = person_at(cat, 0, name="Ann")
        # one identity over-split: its second half's centroid 0.025 from a's (uncertain for dlib)
        a2, _ = person_at(cat, 2, n=2, spread=0.0)
        c, _ = person_at(cat, 3)
        c2, _ = person_at(cat, 4, n=2, spread=0.0)
        vectors = {a2: toward(0, 0.025, 2), c2: toward(3, 0.01, 4)}
        for person, vector in vectors.items():
            for face in cat.faces.ids_of_person(person):
                file_id = cat.faces.box(face).file_id
                cat.people.assign([face], None, AssignedBy.CLUSTER)
                cat.faces.replace_unassigned(file_id, [], model_id=cat.embedding_model().id, input_mode="photos", run_id=None)
            add_photo(cat, f"/p/moved/{person}.jpg", [vector])
            moved = [f.id for f in cat.faces.all() if f.path == f"/p/moved/{person}.jpg"]
            cat.people.assign(moved, person, AssignedBy.CLUSTER)
        merges = [i for i in proposals(cat) if i.kind == "merge"]
        assert [(m.was, m.choices[0].person_id) for m in merges] == [(a, a2)]    # named a is kept
        assert 0.1 < merges[0].confidence < 0.9
        cat.people.keep_apart(a, a2)
        assert not [i for i in proposals(cat) if i.kind == "merge"]
        # consolidate honours it too: never a group of people kept apart
        plan = consolidate.analyze(cat, None)
        assert not any({a, a2} <= set(g["members"]) for g in plan.groups)
        assert any({c, c2} <= set(g["members"]) and g["confident"] for g in plan.groups)


def test_ages_on_photo_dates_and_eras_named_by_age():
    assert age_at("1990-06-15", "2000-06-14T10:00:00") == 9
    assert age_at("1990-06-15", "2000-06-15T10:00:00") == 10
    assert age_at("1990-06-15", None) is None and age_at(None, "2000-01-01") is None
    assert age_at("1990-06-15", "1989-01-01") is None
    assert age_label([3, 4, 4, 5, 7]) == "age 3–6"   # the 10th to 90th percentile, as for years
    assert age_label([]) == "undated" and age_label([5, 5]) == "age 5"


def test_curation_apply_and_undo_leave_hidden_people_hidden(tmp_path):
    from facesets.curate import core

    with new_catalog(tmp_path) as cat:
        a, _ = person_at(cat, 0)
        b, _ = person_at(cat, 1)
        op = cat.operations.add("consolidate", {"command": "consolidate", "export_root": None, "groups": [], "actions": [
            {"type": "merge_people", "into": a, "sources": [b], "uncertain": False}]})
        cat.people.set_hidden([b])
        core.apply(cat, op)
        assert cat.people.get(b).merged_into == a and cat.people.hidden_ids() == {b}
        cat.people.set_hidden([a])                  # hidden after the apply: undo does not show it again
        core.undo(cat)
        assert cat.people.get(b).merged_into is None
        assert cat.people.hidden_ids() == {a, b}
