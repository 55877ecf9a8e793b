"""The faces repository's reads behind the web UI's pages, on a small temporary catalog built
through the repositories: best faces, a person's faces page by page, the unsorted faces."""
from __future__ import annotations

from webcatalog import add_face, cat  # noqa: F401


def test_best_faces_rank_like_best_face(cat):
    i = cat.ids
    people = [i["alice"], i["two"], i["three"], i["bob"]]
    best = cat.faces.best_faces(people + [i["five"], 999])
    assert best == {pid: cat.faces.best_face(pid) for pid in people}       # nobody else: no faces
    alice = cat.faces.ids_of_person(i["alice"])
    assert best[i["alice"]] == alice[1]                                      # quality 0.9
    assert best[i["three"]] == cat.faces.ids_of_person(i["three"])[1]       # 0.6 (merged in) over 0.2
    assert cat.faces.best_faces([]) == {}


def test_cards_of_a_person_best_first_page_by_page(cat):
    i = cat.ids
    cards = cat.faces.cards_of_person(i["alice"], limit=10)
    qualities = [c.quality for c in cards]
    assert qualities == sorted(qualities, reverse=True) and len(cards) == 3
    assert [c.taken_at for c in cards] == ["1999-01-02", None, "2001-05-01"]
    assert {c.person_id for c in cards} == {i["alice"]} and {c.assigned_by for c in cards} == {"cluster"}
    assert cards[0].photo.endswith(".jpg") and "/" not in cards[0].photo and cards[0].gate is None
    pages = [cat.faces.cards_of_person(i["bob"], limit=3, offset=o) for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 1, 0]
    assert [c.quality for c in pages[0] + pages[1]] == [0.4, 0.3, 0.2, 0.1]


def test_unsorted_faces_are_the_unheld_and_the_alone(cat):
    i = cat.ids
    alone = add_face(cat, person=cat.people.create())
    loose = [c.id for c in cat.faces.unsorted_cards(limit=10)]
    nobody = [f for f in loose if cat.faces.person_of(f) is None]
    assert len(nobody) == 1 and alone in loose and len(loose) == 2 == cat.faces.unsorted_count()
    assert loose == sorted(loose)
    cat.people.remove_faces(cat.faces.ids_of_person(i["two"])[:1], i["two"])   # person 2 is now alone too
    assert cat.faces.unsorted_count() == 4
    assert [c.id for c in cat.faces.unsorted_cards(limit=2, offset=2)] == \
           [c.id for c in cat.faces.unsorted_cards(limit=10)][2:4]
