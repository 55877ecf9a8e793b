"""The people repository's reads behind the web UI's pages, on a small temporary catalog built
through the repositories: the grid (filters, sorts, pages, covers), a person's stats, move
targets and labels."""
from __future__ import annotations

import pytest

from webcatalog import cat  # noqa: F401
from facesets.catalog.types import person_number


def ids(cards) -> list[int]:
    return [c.id for c in cards]


def test_person_number_reads_what_users_type():
    assert [person_number(t) for t in ("12", "#12", "person_012", "PERSON_7", " 0042 ")] == [12, 12, 12, 7, 42]
    assert [person_number(t) for t in ("", "Alice", "person_", "12a", "#-3")] == [None] * 5


def test_grid_sorts_filters_and_counts(cat):
    i = cat.ids
    rows, total = cat.people.grid()
    assert total == 4 and ids(rows) == [i["bob"], i["alice"], i["two"], i["three"]]   # most faces, then number
    assert [r.n_faces for r in rows] == [4, 3, 2, 2] and i["five"] not in ids(rows)  # merged away
    assert ids(cat.people.grid(sort="count_asc")[0]) == [i["two"], i["three"], i["alice"], i["bob"]]
    assert ids(cat.people.grid(sort="name")[0]) == [i["alice"], i["bob"], i["two"], i["three"]]
    assert ids(cat.people.grid(sort="recent")[0]) == [i["bob"], i["three"], i["two"], i["alice"]]
    assert ids(cat.people.grid(sort="quality")[0]) == [i["alice"], i["three"], i["bob"], i["two"]]  # no quality: last
    assert ids(cat.people.grid(sort="no such sort")[0]) == ids(rows)
    assert ids(cat.people.grid(named=True)[0]) == [i["bob"], i["alice"]]
    assert ids(cat.people.grid(named=False, sort="number")[0]) == [i["two"], i["three"]]
    assert ids(cat.people.grid(status="thin")[0]) == [i["two"]]
    assert ids(cat.people.grid(min_faces=3)[0]) == [i["bob"], i["alice"]]
    alice = next(r for r in rows if r.id == i["alice"])
    assert alice.label == "Alice" and alice.quality == pytest.approx(0.7)
    assert next(r for r in rows if r.id == i["two"]).quality is None


def test_grid_search_by_number_or_part_of_a_name(cat):
    i = cat.ids
    assert ids(cat.people.grid(search="lic")[0]) == [i["alice"]]
    for typed in (str(i["three"]), f"#{i['three']}", f"person_{i['three']:03d}"):
        assert ids(cat.people.grid(search=typed)[0]) == [i["three"]], typed
    assert cat.people.grid(search=str(i["five"])) == ([], 0)      # merged away: not on the grid


def test_grid_pages_and_total_past_the_end(cat):
    i = cat.ids
    first, total = cat.people.grid(limit=3)
    second, total_again = cat.people.grid(limit=3, offset=3)
    assert total == total_again == 4 and ids(first) + ids(second) == [i["bob"], i["alice"], i["two"], i["three"]]
    assert cat.people.grid(limit=3, offset=30) == ([], 4)         # the total still comes back


def test_grid_covers_are_each_persons_best_face(cat):
    rows = {r.id: r for r in cat.people.grid()[0]}
    for pid, row in rows.items():
        assert row.cover == cat.faces.best_face(pid), pid
    two = cat.faces.ids_of_person(cat.ids["two"])
    assert rows[cat.ids["two"]].cover == two[1]                    # the bigger face (no quality yet)


def test_stats_of_a_person(cat):
    i = cat.ids
    alice = cat.people.stats(i["alice"])
    assert (alice.name, alice.n_faces, alice.first_date, alice.last_date) == ("Alice", 3, "1999-01-02", "2001-05-01")
    assert alice.quality == pytest.approx(0.7) and alice.n_in_faceset == 3
    with cat.transaction():
        cat.faces.set_gates({cat.faces.ids_of_person(i["alice"])[0]: "outlier"})
    assert cat.people.stats(i["alice"]).n_in_faceset == 2
    merged = cat.people.stats(i["five"])
    assert (merged.merged_into, merged.n_faces, merged.n_in_faceset, merged.quality) == (i["three"], 0, 0, None)
    assert cat.people.stats(999) is None


def test_move_targets_named_first_then_biggest(cat):
    i = cat.ids
    targets = cat.people.move_targets()
    assert ids(targets) == [i["bob"], i["alice"], i["two"], i["three"]]
    assert [t.n_faces for t in targets] == [4, 3, 2, 2]
    assert ids(cat.people.move_targets(limit=1)) == [i["bob"]]


def test_labels_of_people_that_exist(cat):
    i = cat.ids
    assert cat.people.labels([i["alice"], i["three"], 999]) == {i["alice"]: "Alice",
                                                                 i["three"]: f"person_{i['three']:03d}"}
    assert cat.people.labels([]) == {}
