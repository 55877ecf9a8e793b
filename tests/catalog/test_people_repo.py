"""The people repository: numbers never reused, one merge rule, user decisions remembered."""
from __future__ import annotations

import numpy as np
import pytest

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import AssignedBy, PersonStatus, priority_key


def _three_people(cat):
    add_photo(cat, "/p/a.jpg", [unit(1), unit(0, 1)])
    add_photo(cat, "/p/b.jpg", [unit(1, 0.2), unit(0, 1, 0.2)])
    add_photo(cat, "/p/c.jpg", [unit(1, 0.1)])
    f = [face.id for face in cat.faces.all()]
    big, small, named = cat.people.create(), cat.people.create(), cat.people.create(name="Bo")
    cat.people.assign([f[0], f[2], f[4]], big, AssignedBy.CLUSTER)
    cat.people.assign([f[1]], small, AssignedBy.CLUSTER)
    cat.people.assign([f[3]], named, AssignedBy.CLUSTER)
    return f, big, small, named


def test_numbers_are_never_reused(tmp_path):
    with new_catalog(tmp_path) as cat:
        first = cat.people.create()
        cat.people.delete_created([first])
        assert cat.people.create() == first + 1


def test_one_merge_rule_keeps_rows_and_the_users_name(tmp_path):
    with new_catalog(tmp_path) as cat:
        f, big, small, named = _three_people(cat)
        winner = cat.people.merge_winner([big, small, named])
        assert winner.id == named                        # named beats bigger
        cat.people.rename(small, None)
        cat.people.merge([small], big)
        cat.people.merge([named], big)                   # the target is unnamed: it takes "Bo"
        assert cat.people.get(big).name == "Bo" and cat.people.get(big, with_count=True).n_faces == 5
        merged = cat.people.get(small)
        assert merged.status == PersonStatus.MERGED and merged.merged_into == big
        assert cat.people.resolve(small) == big and cat.people.alive_ids() == {big}
        other = cat.people.create()
        cat.people.merge([big], other)                   # chains follow
        assert cat.people.get(small).merged_into == other and cat.people.resolve(named) == other


def test_priority_key_named_or_pinned_then_size_then_age(tmp_path):
    people = [{"id": 3, "name": None, "pinned": False, "n_faces": 50},
              {"id": 2, "name": None, "pinned": True, "n_faces": 2},
              {"id": 1, "name": None, "pinned": False, "n_faces": 50}]
    assert [p["id"] for p in sorted(people, key=priority_key)] == [2, 1, 3]


def test_user_edits_are_remembered(tmp_path):
    with new_catalog(tmp_path) as cat:
        f, big, small, named = _three_people(cat)
        cat.people.remove_faces([f[4]], big)
        assert (f[4], big) in cat.people.exclusions() and cat.faces.person_of(f[4]) is None
        cat.people.move_faces([f[2]], small)             # excluded from big, pinned to small
        assert (f[2], big) in cat.people.exclusions()
        assert {face.id: face.assigned_by for face in cat.faces.all()}[f[2]] == AssignedBy.USER
        cat.people.move_faces([f[4]], big)               # moving back clears that exclusion
        assert (f[4], big) not in cat.people.exclusions() and cat.faces.person_of(f[4]) == big
        new = cat.people.split_faces([f[0]], name="Split")
        split = cat.people.get(new, with_count=True)
        assert split.name == "Split" and split.pinned and split.n_faces == 1
        cat.people.rename(big, "Ada")
        assert cat.people.get(big).pinned and cat.people.find("Ada").id == big
        assert cat.people.find(f"person_{small:03d}").id == small and cat.people.find(str(named)).id == named
        assert cat.people.find("nobody") is None
        assert cat.people.removed_count(big) == 2        # f[2] moved away, f[0] split off


def test_centroids_gated_and_by_person(tmp_path):
    with new_catalog(tmp_path) as cat:
        f, big, small, named = _three_people(cat)
        ids, centroids = cat.people.centroids()
        assert ids.tolist() == [big, small, named]
        assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0)
        expected = np.mean([unit(1), unit(1, 0.2), unit(1, 0.1)], axis=0)
        assert np.allclose(centroids[0], expected / np.linalg.norm(expected), atol=1e-6)
        cat.faces.set_gates({f[2]: "blur", f[4]: "small"})
        _, gated = cat.people.centroids([big], gated=True)
        assert np.allclose(gated[0], unit(1), atol=1e-6)     # only the face refine kept
        cat.faces.set_gates({f[1]: "blur"})
        _, alone = cat.people.centroids([small], gated=True)
        assert np.allclose(alone[0], unit(0, 1), atol=1e-6)  # nothing else: the gated face counts
        assert cat.people.centroids([])[0].tolist() == []


def test_snapshot_restore_statuses_and_facesets(tmp_path):
    with new_catalog(tmp_path) as cat:
        f, big, small, named = _three_people(cat)
        before = cat.people.snapshot([big])
        cat.people.merge([small], big)
        cat.people.set_status(big, PersonStatus.MASKED, faceset=False)
        cat.people.restore(before + cat.people.snapshot([small])[:0])
        assert cat.people.get(big).status == PersonStatus.ACTIVE
        cat.people.set_facesets([big, named])
        assert cat.people.facesets_count() == 2
        cat.people.set_facesets([named])
        assert [p.id for p in cat.people.active() if p.faceset] == [named]
        era = cat.people.create(parent_id=big, era="2001")
        cat.people.assign([f[0]], era, AssignedBy.CURATE)
        assert [p.id for p in cat.people.eras_of(big)] == [era]
        assert era not in [p.id for p in cat.people.active(top_level_only=True)]
        with pytest.raises(Exception):
            cat.people.get(era).id = 5                   # rows are frozen values, not live records
