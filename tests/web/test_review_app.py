"""Issue 22 through Starlette's TestClient on real small catalogs: the review queue's decisions
(accept, reject, skip, undo, a chosen suggestion, accept-all, merges) land in the catalog and
answer with the next item as a fragment; an item shown before a re-cluster is dropped, not
applied; hidden people leave the grid, the queue, exports and XMP tags until shown again; hide
strangers; birth dates and ages; the photo view and a drawn face."""
from __future__ import annotations

import json
import re

import numpy as np

import pytest
from starlette.testclient import TestClient

from catalog.catalog_helpers import add_photo, new_catalog, person_at, toward
from conftest import run_cli
from facesets.catalog import AssignedBy, Catalog
from facesets.web import create_app
from facesets.web.synthetic import add_synthetic_people
from webhelp import (_small_embedded, excluded, held, person, photo_of, place, review_catalog,  # noqa: F401
                     small_catalog)

LIVE = {"HX-Request": "true"}


def open_client(db):
    app = create_app(db)
    client = TestClient(app)
    client.token, client.web = app.state.web.token, app.state.web
    return client


@pytest.fixture
def review(review_catalog):
    with open_client(review_catalog["db"]) as client:
        client.setup = review_catalog
        yield client


def shown(html: str) -> dict:
    """What the review page shows: the item, its stamp, the first and the other choices."""
    item = re.search(r'<section id="review-item" data-item="([^"]*)"', html).group(1)
    found = {"item": item, "stamp": re.search(r'name="stamp" value="([^"]*)"', html).group(1),
             "left": int(re.search(r'<span id="left">(\d+)</span>', html).group(1))}
    if item.startswith(("face:", "weak:")):
        found["face"] = int(item.split(":")[1])
        found["choices"] = [int(p) for p in re.findall(r'data-key="\d" data-person-id="(\d+)"', html)]
        found["confidence"] = float(re.search(r'class="confidence" data-confidence="([\d.]+)"', html).group(1))
    return found


def decide(client, now: dict, decision: str, **extra):
    return client.post("/review", data={"token": client.token, "item": now["item"], "stamp": now["stamp"],
                                        "decision": decision, **extra}, headers=LIVE)


def test_each_key_s_decision_lands_in_the_catalog_and_answers_with_the_next_item(review):
    db, loose = review.setup["db"], review.setup["loose"]
    page = review.get("/review")
    assert page.status_code == 200 and page.headers["server-timing"].startswith("app;dur=")
    first = shown(page.text)
    assert first["left"] == len(loose) and first["face"] in loose and first["confidence"] > 0.9

    accepted = decide(review, first, f"accept:{first['choices'][0]}")
    assert accepted.status_code == 200 and "<html" not in accepted.text and 'hx-swap-oob="true"' in accepted.text
    assert place(db, first["face"]) == (first["choices"][0], "user")
    second = shown(accepted.text)
    assert second["face"] != first["face"] and second["left"] == len(loose) - 1

    rejected = shown(decide(review, second, f"reject:{second['choices'][0]}").text)
    assert (second["face"], second["choices"][0]) in excluded(db) and place(db, second["face"])[0] is None

    skipped = shown(decide(review, rejected, "skip").text)
    assert skipped["face"] != rejected["face"] and place(db, rejected["face"]) == (None, None)

    after = shown(decide(review, skipped, f"accept:{skipped['choices'][0]}").text)
    assert place(db, skipped["face"])[0] == skipped["choices"][0]
    undone = review.post("/review/undo", data={"token": review.token}, headers=LIVE)
    assert "undone" in undone.text and shown(undone.text)["face"] == skipped["face"]
    assert place(db, skipped["face"]) == (None, None) and after["face"] != skipped["face"]

    second_choice = shown(undone.text)["choices"][1]
    decide(review, shown(undone.text), f"accept:{second_choice}")
    assert place(db, skipped["face"]) == (second_choice, "user")

    # without htmx a decision redirects to the queue (the page works without scripts)
    now = shown(review.get("/review").text)
    plain = review.post("/review", data={"token": review.token, "item": now["item"], "stamp": now["stamp"],
                                         "decision": "skip"}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"].startswith("/review")


def test_an_unknown_decision_changes_nothing(review):
    now = shown(review.get("/review").text)
    answer = decide(review, now, "merge")
    assert "unknown decision" in answer.text and shown(answer.text)["item"] == now["item"]
    assert place(review.setup["db"], now["face"]) == (None, None)


def test_the_token_guards_every_decision(review):
    now = shown(review.get("/review").text)
    refused = review.post("/review", data={"item": now["item"], "stamp": now["stamp"],
                                           "decision": f"accept:{now['choices'][0]}"})
    assert refused.status_code == 403 and place(review.setup["db"], now["face"]) == (None, None)
    assert review.post("/review/undo", data={}).status_code == 403


def test_accept_all_takes_the_remaining_suggestions_for_that_person_at_the_confidence_shown(review):
    db, faces, people = review.setup["db"], review.setup["faces"], review.setup["people"]
    powell, pair = people["Colin_Powell"], faces["Colin_Powell"][:2]
    strict = review.get(f"/review?face={pair[0]}&min=1").text
    assert shown(strict)["face"] == pair[0] and 'id="more">0<' in strict
    page = review.get(f"/review?face={pair[0]}&min=0.9").text
    assert 'id="more">1<' in page and "confidence ≥ 0.90" in page
    decide(review, shown(page), f"all:{powell}", min="0.9")
    assert {place(db, f) for f in pair} == {(powell, "user")}
    assert all(place(db, f)[0] is None for f in review.setup["loose"] if f not in pair)
    review.post("/review/undo", data={"token": review.token}, headers=LIVE)
    assert {place(db, f) for f in pair} == {(None, None)}


def test_an_item_shown_before_a_recluster_is_dropped_not_applied(review):
    db = review.setup["db"]
    now = shown(review.get("/review").text)
    run_cli("cluster", "--catalog", db)
    answer = decide(review, now, f"accept:{now['choices'][0]}")
    assert "re-clustered" in answer.text and 'id="err"' in answer.text
    assert place(db, now["face"])[1] != "user"
    assert shown(answer.text)["stamp"] != now["stamp"]       # the queue was built again


def test_hidden_people_leave_grid_queue_export_and_tags_until_shown_again(review, tmp_path):
    from facesets.export import export
    from facesets.names.tag import tag

    db, people, faces = review.setup["db"], review.setup["people"], review.setup["faces"]
    powell = people["Colin_Powell"]
    with Catalog.open(db) as cat, cat.transaction():
        cat.people.set_facesets(people.values())
        for name, pid in people.items():
            cat.people.rename(pid, name.replace("_", " "))

    def everywhere():
        grid = {int(p) for p in re.findall(r'data-person-id="(\d+)"', review.get("/").text)}
        review.get("/review")
        queue = {c.person_id for item in review.web.review.items for c in item.choices}
        with Catalog.open(db) as cat:
            out = tmp_path / f"export-{len(list(tmp_path.iterdir()))}"
            export(cat, out, targets=("folders",))
            exported = {entry["person"] for entry in json.loads((out / "manifest.json").read_text())["facesets"]}
            regions = {label for photo in tag_photos(cat) for label in photo}
        return grid, queue, exported, regions

    def tag_photos(cat):
        out = tmp_path / f"xmp-{len(list(tmp_path.iterdir()))}"
        tag(cat, out)
        return [re.findall(r'mwg-rs:Name="([^"]+)"', p.read_text(errors="replace")) for p in out.rglob("*.xmp")]

    grid, queue, exported, regions = everywhere()
    assert powell in grid and powell in queue and powell in exported and "Colin Powell" in regions
    hid = review.post(f"/person/{powell}/facts", data={"token": review.token, "action": "hide"}, headers=LIVE)
    assert 'id="hidden-badge"' in hid.text and "<html" not in hid.text
    grid, queue, exported, regions = everywhere()
    assert powell not in grid and powell not in queue and powell not in exported and "Colin Powell" not in regions
    assert grid == set(people.values()) - {powell} and exported == grid and "Ariel Sharon" in regions
    only_hidden = review.get("/?hidden=only").text
    assert re.findall(r'data-person-id="(\d+)"', only_hidden) == [str(powell)] and "1 hidden" in only_hidden
    review.post(f"/person/{powell}/facts", data={"token": review.token, "action": "show"}, headers=LIVE)
    grid, queue, exported, regions = everywhere()
    assert powell in grid and powell in queue and powell in exported and "Colin Powell" in regions
    assert faces["Colin_Powell"][0] in {item.face_id for item in review.web.review.items}


def test_hide_strangers_hides_exactly_the_unnamed_people_at_or_under_n_faces(small_catalog):
    db = small_catalog["db"]
    with Catalog.open(db) as cat, cat.transaction():
        cat.people.rename(small_catalog["rums_a"], "Donald Rumsfeld")
        cat.people.set_hidden([small_catalog["schroeder"]])
    with Catalog.open(db) as cat:
        sizes = {p.id: (p.n_faces, p.name) for p in cat.people.active()}
    assert sorted(n for n, _ in sizes.values()) == [3, 3, 5, 6, 7]
    expected = {pid for pid, (n, name) in sizes.items() if n <= 5 and name is None}
    assert expected == {small_catalog["powell"], small_catalog["rums_b"]}
    with open_client(db) as client:
        answer = client.post("/people/strangers", data={"token": client.token, "max_faces": "5", "query": "sort=number"},
                             headers=LIVE)
        assert "hid 2 unnamed people with at most 5 faces" in answer.text and 'id="people-block"' in answer.text
        with Catalog.open(db) as cat:
            assert cat.people.hidden_ids() == expected | {small_catalog["schroeder"]}
        grid = {int(p) for p in re.findall(r'data-person-id="(\d+)"', client.get("/").text)}
        assert grid == {small_catalog["sharon"], small_catalog["rums_a"]}
        shown_again = client.post("/people/hide", data={"token": client.token, "action": "show",
                                                        "person": [str(p) for p in expected]}, headers=LIVE)
        assert "showing 2 people again" in shown_again.text
        with Catalog.open(db) as cat:
            assert cat.people.hidden_ids() == {small_catalog["schroeder"]}


def test_merges_are_proposed_side_by_side_merged_or_kept_apart_and_undone(tmp_path):
    with new_catalog(tmp_path) as cat:
        a, _ = person_at(cat, 0, name="Ann")
        b, _ = person_at(cat, 2, n=1, spread=0.0)
        for face in cat.faces.ids_of_person(b):       # b's one face 0.025 from a: an uncertain merge
            cat.people.assign([face], None, AssignedBy.CLUSTER)
        add_photo(cat, "/p/b2.jpg", [toward(0, 0.025, 2)])
        add_photo(cat, "/p/b3.jpg", [toward(0, 0.025, 2)])
        cat.people.assign([f.id for f in cat.faces.all() if f.path in ("/p/b2.jpg", "/p/b3.jpg")], b, AssignedBy.USER)
    db = tmp_path / "c.db"
    with open_client(db) as client:
        page = client.get("/review").text
        assert 'data-kind="merge"' in page and f'data-person-id="{a}"' in page and f'data-person-id="{b}"' in page
        now = shown(page)
        apart = client.post("/review", data={"token": client.token, "item": now["item"], "stamp": now["stamp"],
                                             "decision": "apart"}, headers=LIVE)
        assert 'id="queue-empty"' in apart.text
        with Catalog.open(db) as cat:
            assert cat.people.apart_pairs() == {(min(a, b), max(a, b))}
        client.post("/review/undo", data={"token": client.token}, headers=LIVE)
        with Catalog.open(db) as cat:
            assert cat.people.apart_pairs() == set()
        now = shown(client.get("/review").text)
        client.post("/review", data={"token": client.token, "item": now["item"], "stamp": now["stamp"],
                                     "decision": "merge"}, headers=LIVE)
        assert person(db, b).merged_into == a and person(db, a).n_faces == 6
        client.post("/review/undo", data={"token": client.token}, headers=LIVE)
        assert person(db, b).merged_into is None and held(db, b) and person(db, a).n_faces == 4


def test_a_birth_date_shows_each_face_s_age_at_its_photo_s_date(tmp_path):
    db = tmp_path / "synthetic.db"
    with Catalog.open(db) as cat:
        add_synthetic_people(cat, 2, faces_per_person=3)      # person 1's photos: 2000-01-01 .. 03
    with open_client(db) as client:
        assert "age " not in client.get("/person/1").text
        answer = client.post("/person/1/facts", data={"token": client.token, "action": "birth",
                                                      "birth_date": "1990-06-15"}, headers=LIVE)
        assert answer.text.count('<span class="age">age 9</span>') == 3 and 'value="1990-06-15"' in answer.text
        bad = client.post("/person/1/facts", data={"token": client.token, "action": "birth", "birth_date": "15/06/90"},
                          headers=LIVE)
        assert 'id="err"' in bad.text
        with Catalog.open(db) as cat:
            assert cat.people.facts(1).birth_date == "1990-06-15"


def test_photo_view_names_every_box_and_a_drawn_box_becomes_a_face(small_catalog):
    db, sharon = small_catalog["db"], small_catalog["sharon"]
    face = small_catalog["faces"]["Ariel_Sharon"][0]
    file_id = photo_of(db, face)
    with open_client(db) as client:
        page = client.get(f"/photo/{file_id}/view").text
        assert f'data-face-id="{face}" data-person-id="{sharon}" href="/person/{sharon}"' in page
        assert f"person_{sharon:03d}" in page and 'data-draw-url="/photo/' in page
        assert client.get("/photo/999999/view").status_code == 404
        with Catalog.open(db) as cat:
            before = {f for f, _, _ in cat.faces.of_file(file_id)}
        # a box on the photo's corner, where no face is: embedded as drawn
        drawn = client.post(f"/photo/{file_id}/faces", data={"token": client.token, "x1": "0.02", "y1": "0.02",
                                                             "x2": "0.22", "y2": "0.22"}, headers=LIVE)
        assert drawn.status_code == 200 and 'id="chosen"' in drawn.text
        with Catalog.open(db) as cat:
            new, = {f for f, _, _ in cat.faces.of_file(file_id)} - before
            x1, y1, x2, y2 = cat.faces.box(new).box
            assert cat.faces.person_of(new) is None and cat.files.get(file_id).n_faces == len(before) + 1
        assert (x1, y1) == pytest.approx((0.02 * 150, 0.02 * 150), abs=1) and x2 == pytest.approx(0.22 * 150, abs=1)
        with Catalog.open(db) as cat:
            x1, y1, x2, y2 = cat.faces.box(face).box       # a box around a face the catalog holds
        again = client.post(f"/photo/{file_id}/faces", data={"token": client.token, "x1": x1 / 150, "y1": y1 / 150,
                                                             "x2": x2 / 150, "y2": y2 / 150}, headers=LIVE)
        assert f"already in the catalog (face {face})" in again.text
        with Catalog.open(db) as cat:
            assert len(cat.faces.of_file(file_id)) == len(before) + 1
        assigned = client.post(f"/photo/{file_id}/assign", data={"token": client.token, "face": str(new),
                                                                 "target": str(sharon)}, headers=LIVE)
        assert f'data-face-id="{new}" data-person-id="{sharon}"' in assigned.text
        assert place(db, new) == (sharon, "user")


def test_the_queue_takes_in_a_photo_s_new_faces_and_drops_hidden_people_without_a_rebuild(tmp_path):
    from facesets.catalog import NewFace
    from facesets.web.review import ReviewQueue

    with new_catalog(tmp_path) as cat:
        a, _ = person_at(cat, 0)
        b, _ = person_at(cat, 1)
        near_b = add_photo(cat, "/p/near_b.jpg", [toward(1, 0.03, 5)])
        queue = ReviewQueue()
        assert queue.current(cat).choices[0].person_id == b
        built = list(queue.items)
        photo = add_photo(cat, "/p/later.jpg", [])
        drawn = cat.faces.add_drawn(photo, NewFace(np.array([1, 1, 50, 50], np.float32), None, 0.0, 49.0, None,
                                                   toward(0, 0.01, 5)), model_id=cat.embedding_model().id)
        queue.add_photos(cat, [photo])
        assert [item.face_id for item in queue.items][:1] == [drawn] and queue.items[1:] == built   # surest first
        queue.drop_people([b])
        assert [item.face_id for item in queue.items] == [drawn]
        assert queue.current(cat).face_id == drawn and near_b
