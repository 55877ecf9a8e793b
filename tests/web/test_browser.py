"""Issue 6 acceptance in a real browser (Playwright driving Debian's Chromium): remove a face,
rename, merge, split, accept a suggestion, restart the server and find everything still there,
refuse token-less changes, page through 5,000 people, export. Screenshots go to the test's tmp dir."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from facesets.catalog import Catalog
from facesets.web.synthetic import add_synthetic_people
from webhelp import (PER_IDENTITY, ServerThread, _small_embedded, excluded, held, person, place,  # noqa: F401
                     small_catalog)

CHROMIUM = Path("/usr/bin/chromium")
ALL_IMAGES_LOADED = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def wait_until(page, expression: str, timeout: float = 120) -> None:
    """Poll a JS expression from outside the page: the app's Content-Security-Policy forbids the
    in-page eval that Playwright's wait_for_function uses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def test_review_edits_are_stored_and_survive_a_restart(page, small_catalog, tmp_path):
    s, db = small_catalog, small_catalog["db"]
    with ServerThread(db) as server:
        page.goto(server.url + "/")
        assert page.locator("#people .card").count() == 5
        wait_until(page, ALL_IMAGES_LOADED)
        page.screenshot(path=str(tmp_path / "people-grid.png"), full_page=True)

        # remove the intruder from Ariel Sharon
        page.click(f'[data-person-id="{s["sharon"]}"] a.label')
        page.wait_for_url(f"**/person/{s['sharon']}")
        assert page.locator("#faces .card").count() == PER_IDENTITY + 1
        wait_until(page, ALL_IMAGES_LOADED)
        page.screenshot(path=str(tmp_path / "person-page.png"), full_page=True)
        assert page.locator("#remove").is_disabled()
        page.check(f'[data-face-id="{s["intruder"]}"] input[type=checkbox]')
        assert page.inner_text("#selected-count") == "1"
        page.click("#remove")
        page.wait_for_selector("#msg")
        assert page.locator(f'[data-face-id="{s["intruder"]}"]').count() == 0
        assert page.inner_text("#n-faces") == str(PER_IDENTITY)
        assert place(db, s["intruder"])[0] is None
        assert {p for f, p in excluded(db) if f == s["intruder"]} == {s["sharon"]}

        # rename
        page.fill("#rename-form input[name=name]", "Ariel Sharon")
        page.click("#rename-form button")
        page.wait_for_selector("#msg")
        assert page.inner_text("#person-label") == "Ariel Sharon"
        assert person(db, s["sharon"]).name == "Ariel Sharon"

        # merge the two halves of Donald Rumsfeld
        page.goto(f"{server.url}/person/{s['rums_a']}")
        page.fill("#merge-form input[name=other]", str(s["rums_b"]))
        page.click("#merge-form button")
        page.wait_for_selector("#msg")
        assert page.inner_text("#n-faces") == str(PER_IDENTITY)
        assert person(db, s["rums_b"]).merged_into == s["rums_a"]

        # split two faces of Gerhard Schroeder into a new, named person
        page.goto(f"{server.url}/person/{s['schroeder']}")
        page.click('[data-select="all"]')
        assert page.inner_text("#selected-count") == str(page.locator("#faces .card").count())
        page.click('[data-select="none"]')
        assert page.inner_text("#selected-count") == "0" and page.locator("#split").is_disabled()
        cut = s["faces"]["Gerhard_Schroeder"][:2]
        for face in cut:
            page.check(f'[data-face-id="{face}"] input[type=checkbox]')
        page.fill("#faces-form input[name=name]", "Schroeder split")
        page.click("#split")
        page.wait_for_selector("#msg")
        assert page.inner_text("#person-label") == "Schroeder split"
        new = int(page.url.split("/person/")[1].split("?")[0])
        assert held(db, new) == set(cut)

        # the removed face waits in Unsorted, suggested for Colin Powell; accept it
        page.goto(f"{server.url}/unsorted")
        card = page.locator(f'[data-face-id="{s["intruder"]}"]')
        assert card.locator("a.suggested").get_attribute("href") == f"/person/{s['powell']}"
        page.screenshot(path=str(tmp_path / "unsorted.png"), full_page=True)
        card.locator("button.accept").click()
        page.wait_for_selector("#msg")
        assert place(db, s["intruder"])[0] == s["powell"]

        # a change without the token is refused, and changes nothing
        refused = page.request.post(f"{server.url}/person/{s['sharon']}/rename", form={"name": "Hijacked"})
        assert refused.status == 403
        old_token = server.token

    # a fresh server on the same catalog shows every decision
    with ServerThread(db) as server:
        assert server.token != old_token
        page.goto(server.url + "/?sort=name")
        labels = page.locator("#people .card a.label").all_inner_texts()
        assert "Ariel Sharon" in labels and "Schroeder split" in labels
        assert f"person_{s['rums_b']:03d}" not in labels and len(labels) == 5
        page.goto(f"{server.url}/person/{s['sharon']}")
        assert page.inner_text("#person-label") == "Ariel Sharon"
        assert page.locator(f'[data-face-id="{s["intruder"]}"]').count() == 0
        page.goto(f"{server.url}/person/{s['rums_b']}")  # merged away: lands on the person it became
        assert page.url.split("?")[0].endswith(f"/person/{s['rums_a']}")
        stale = page.request.post(f"{server.url}/person/{s['sharon']}/rename",
                                  form={"name": "Hijacked", "token": old_token})
        assert stale.status == 403
        assert person(db, s["sharon"]).name == "Ariel Sharon"


def test_people_grid_pages_through_5000_people(page, tmp_path):
    db = tmp_path / "big.db"
    with Catalog.open(db) as cat:
        add_synthetic_people(cat, 5000, faces_per_person=2)
    with ServerThread(db) as server:
        page.goto(server.url + "/")
        assert page.inner_text("#total") == "5000 people"
        assert page.locator("#people .card").count() == 60
        page.screenshot(path=str(tmp_path / "grid-5000.png"))
        page.click("a.next")
        page.wait_for_url("**page=2")
        assert "page 2 of 84" in page.inner_text(".pager")
        first = page.locator("#people .card").first.get_attribute("data-person-id")
        page.fill("input[name=q]", "Synthetic 01230")
        page.click(".filters button")
        page.wait_for_url("**q=Synthetic*")
        assert page.locator("#people .card a.label").all_inner_texts() == ["Synthetic 01230"]
        assert first is not None


def test_edits_then_export_from_the_page(page, small_catalog, tmp_path):
    """Remove, rename and merge in the UI, export from the page (progress shown), and find each
    edit in the export tree: the folder and manifest carry the name, the removed face is not
    exported with that person, the merged halves are one faceset."""
    s, db = small_catalog, small_catalog["db"]
    with Catalog.open(db) as cat:
        cat.people.set_facesets(p.id for p in cat.people.all())   # as refine would mark them
    out = tmp_path / "export"
    with ServerThread(db) as server:
        page.goto(f"{server.url}/person/{s['sharon']}")
        page.check(f'[data-face-id="{s["intruder"]}"] input[type=checkbox]')
        page.click("#remove")
        page.wait_for_selector("#msg")
        page.fill("#rename-form input[name=name]", "Ariel Sharon")
        page.click("#rename-form button")
        page.wait_for_selector("#msg")
        page.goto(f"{server.url}/person/{s['rums_a']}")
        page.fill("#merge-form input[name=other]", str(s["rums_b"]))
        page.click("#merge-form button")
        page.wait_for_selector("#msg")

        page.goto(server.url + "/export")
        page.fill("#export-form input[name=out]", str(out))
        page.click("#run-export")
        page.wait_for_selector("#job progress")
        page.wait_for_selector('#job[data-status="done"], #job[data-status="failed"]', timeout=300_000)
        assert page.inner_text("#job-status") == "done", page.inner_text("#job-message")
        page.screenshot(path=str(tmp_path / "export.png"))
        page.reload()
        assert str(out.resolve()) in page.inner_text("#history")
    listing = json.loads((out / "manifest.json").read_text())["facesets"]
    by_person = {entry["person"]: entry for entry in listing}
    sharon = by_person[s["sharon"]]
    assert sharon["name"] == "Ariel Sharon" and "Ariel_Sharon" in sharon["folder"]
    folder = json.loads((out / sharon["folder"] / "manifest.json").read_text())
    exported = {face["face_id"] for face in folder["faces"]}
    assert exported and s["intruder"] not in exported and exported <= set(s["faces"]["Ariel_Sharon"])
    assert s["rums_b"] not in by_person
    rums = json.loads((out / by_person[s["rums_a"]]["folder"] / "manifest.json").read_text())
    rums_faces = {face["face_id"] for face in rums["faces"]}
    half = len(s["faces"]["Donald_Rumsfeld"]) // 2
    assert rums_faces & set(s["faces"]["Donald_Rumsfeld"][:half]) and rums_faces & set(s["faces"]["Donald_Rumsfeld"][half:])


def test_find_by_uploaded_photo(page, small_catalog, tmp_path):
    from conftest import FACES
    photo = sorted((FACES / "lfw158" / "Colin_Powell").glob("*.jpg"))[PER_IDENTITY + 2]  # not in the catalog
    with ServerThread(small_catalog["db"]) as server:
        page.goto(server.url + "/find")
        page.set_input_files("#upload-form input[type=file]", str(photo))
        page.click("#upload-form button")
        page.wait_for_selector(".photo .box")
        page.click('.photo .box[data-face="0"]')
        page.wait_for_selector("#ranked-people")
        wait_until(page, ALL_IMAGES_LOADED)
        page.screenshot(path=str(tmp_path / "find.png"), full_page=True)
        best = page.locator("#ranked-people li a").first.get_attribute("href")
        assert best == f"/person/{small_catalog['powell']}"
        assert page.locator("#ranked-faces li").count() > 0
