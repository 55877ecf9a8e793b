"""The people and faces repositories' review additions: hidden people and strangers, birth dates,
people kept apart, exclusions put back by an undo, the generation the review queue watches, a
drawn face; hidden and birth date stay out of curation snapshots and their undo."""
from __future__ import annotations

import numpy as np

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import AssignedBy, NewFace, OperationStatus
from facesets.catalog.schema import MIGRATIONS


def _people(cat, sizes: list[int], names: dict[int, str] | None = None) -> list[int]:
    """One person per size, holding that many faces of a photo each."""
    made = []
    for i, size in enumerate(sizes):
        add_photo(cat, f"/p/{i}.jpg", [unit(i + 1, j * 0.01) for j in range(size)])
        person = cat.people.create(name=(names or {}).get(i))
        faces = [f.id for f in cat.faces.all() if f.path == f"/p/{i}.jpg"]
        cat.people.assign(faces, person, AssignedBy.CLUSTER)
        made.append(person)
    return made


def test_a_migration_holds_person_facts_and_people_apart_outside_the_people_rows(tmp_path):
    assert any("person_facts" in m and "people_apart" in m for m in MIGRATIONS)   # one migration (renumbered on merge)
    with new_catalog(tmp_path) as cat:
        person, = _people(cat, [2])
        cat.people.set_hidden([person])
        cat.people.set_birth_date(person, "1990-05-17")
        row, = cat.people.snapshot([person])
        assert "hidden" not in row and "birth_date" not in row   # curation snapshots never carry them


def test_hide_and_show_leave_the_grid_and_come_back(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, b, c = _people(cat, [3, 2, 1])
        cat.people.set_hidden([b])
        assert cat.people.hidden_ids() == {b}
        assert [p.id for p in cat.people.grid()[0]] == [a, c]
        assert [p.id for p in cat.people.grid(hidden=True)[0]] == [b]
        assert [p.id for p in cat.people.grid(hidden=None)[0]] == [a, b, c]
        assert cat.people.grid()[1] == 2 and cat.people.facts(b).hidden
        cat.people.set_hidden([b], hidden=False)
        assert cat.people.hidden_ids() == set() and [p.id for p in cat.people.grid()[0]] == [a, b, c]


def test_strangers_are_the_unnamed_shown_people_at_or_under_n_faces(tmp_path):
    with new_catalog(tmp_path) as cat:
        big, two, one, named_one, hidden_two, gone = _people(cat, [5, 2, 1, 1, 2, 1], names={3: "Ann"})
        cat.people.set_hidden([hidden_two])
        cat.people.merge([gone], big)
        assert cat.people.strangers(1) == [one]
        assert cat.people.strangers(2) == [two, one]
        assert cat.people.strangers(5) == [two, one]           # big holds gone's face too: 6
        assert cat.people.strangers(6) == [big, two, one]


def test_birth_date_is_kept_beside_the_hidden_flag(tmp_path):
    with new_catalog(tmp_path) as cat:
        person, = _people(cat, [1])
        assert cat.people.facts(person).birth_date is None and not cat.people.facts(person).hidden
        cat.people.set_hidden([person])
        cat.people.set_birth_date(person, "2001-02-03")
        facts = cat.people.facts(person)
        assert facts.hidden and facts.birth_date == "2001-02-03"
        cat.people.set_birth_date(person, None)
        assert cat.people.facts(person).birth_date is None and cat.people.facts(person).hidden


def test_curation_restore_and_delete_leave_hidden_alone(tmp_path):
    """What curation undo does to people (restore a snapshot, delete the people it created)
    changes no hidden flag; a deleted person's facts go with it."""
    with new_catalog(tmp_path) as cat:
        a, b = _people(cat, [2, 2])
        before = cat.people.snapshot([a, b])
        cat.people.merge([b], a)
        cat.people.set_hidden([a, b])
        cat.people.restore(before)
        assert cat.people.hidden_ids() == {a, b} and cat.people.get(b).merged_into is None
        created = cat.people.create()
        cat.people.set_hidden([created])
        cat.people.delete_created([created])
        assert cat.people.hidden_ids() == {a, b}


def test_people_kept_apart_follow_merges(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, b, c = _people(cat, [2, 2, 2])
        cat.people.keep_apart(b, a)
        assert cat.people.apart_pairs() == {(a, b)}
        cat.people.merge([b], c)                  # b's faces are c's now: c and a stay apart
        assert cat.people.apart_pairs() == {(a, c)}
        cat.people.merge([c], a)                  # merged anyway: no pair left
        assert cat.people.apart_pairs() == set()
        cat.people.keep_apart(a, b, apart=False)
        assert cat.people.apart_pairs() == set()


def test_exclusions_of_faces_and_their_restore(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, b = _people(cat, [2, 2])
        f1, f2, f3, _ = [f.id for f in cat.faces.all()]
        cat.people.remove_faces([f1], a)
        cat.people.remove_faces([f3], a)
        before = cat.people.exclusions_of([f1, f2])
        assert before == {(f1, a)}
        cat.people.move_faces([f1], b)
        cat.people.remove_faces([f2], a)
        cat.people.remove_faces([f1], b)
        cat.people.restore_exclusions([f1, f2], before)
        assert cat.people.exclusions() == {(f1, a), (f3, a)}


def test_generation_moves_when_a_placing_stage_starts_or_a_curation_is_applied_or_undone(tmp_path):
    with new_catalog(tmp_path) as cat:
        first = cat.people.generation()
        cat.runs.start("enrich", {})
        cat.runs.start("export", {})
        assert cat.people.generation() == first            # these place no face
        cat.runs.start("embed", {})                        # XMP-named faces seed people
        embedded = cat.people.generation()
        assert embedded != first
        cat.runs.start("cluster", {})
        second = cat.people.generation()
        assert second != embedded
        op = cat.operations.add("consolidate", {"actions": []})
        assert cat.people.generation() == second
        cat.operations.mark_applied(op, {})
        third = cat.people.generation()
        cat.operations.mark_undone(op)
        assert len({second, third, cat.people.generation()}) == 3
        assert cat.operations.get(op).status == OperationStatus.UNDONE


def test_a_drawn_face_is_added_after_the_photos_others_in_nobody(tmp_path):
    with new_catalog(tmp_path) as cat:
        photo = add_photo(cat, "/p/group.jpg", [unit(1), unit(0, 1)])
        empty = add_photo(cat, "/p/empty.jpg", [])
        model = cat.embedding_model()
        drawn = NewFace(np.array([300, 20, 340, 60], np.float32), None, 0.0, 40.0, 12.0, unit(0, 0, 1))
        face = cat.faces.add_drawn(photo, drawn, model_id=model.id)
        again = cat.faces.add_drawn(empty, drawn, model_id=model.id)
        added = {f.id: f for f in cat.faces.all()}
        assert added[face].face_index == 2 and added[face].person_id is None and added[face].clustered_run is None
        assert added[face].box == (300, 20, 340, 60) and np.allclose(added[face].embedding, unit(0, 0, 1))
        assert cat.files.get(photo).n_faces == 3
        assert added[again].face_index == 0 and cat.files.get(empty).n_faces == 1
        assert cat.files.get(empty).status == "done"     # a photo with no face found holds one now
