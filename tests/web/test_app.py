"""The web UI's routes through Starlette's TestClient (fast), on a real small catalog: every action
lands in the catalog through its people repository, tokens are required, images go by id only.
What the server stored is read back through a separate connection to the catalog."""
from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from starlette.testclient import TestClient

from conftest import FACES
from facesets.catalog import Catalog, PersonStatus
from facesets.profiles import profile_for
from facesets.web import create_app
from facesets.web.images import thumbs_dir
from facesets.web.synthetic import add_synthetic_people
from webhelp import (IDENTITIES, PER_IDENTITY, ServerThread, _small_embedded, excluded, held, person,  # noqa: F401
                     photo_of, place, small_catalog)


@pytest.fixture
def client(small_catalog):
    app = create_app(small_catalog["db"])
    with TestClient(app) as c:
        c.token = app.state.web.token
        c.web = app.state.web
        yield c
        app.state.web.jobs.wait(120)


def post(client, url, data, **kw):
    return client.post(url, data={"token": client.token, **data}, follow_redirects=False, **kw)


def test_every_page_renders(client, small_catalog):
    face = small_catalog["faces"]["Ariel_Sharon"][0]
    for url in ("/", f"/person/{small_catalog['sharon']}", "/unsorted", "/find", "/export", "/settings",
                "/?sort=name&q=person&min=2&named=no", "/?sort=quality&page=99"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "facesets" in response.text
    grid = client.get("/").text
    assert grid.count('data-person-id="') == 5
    page = client.get(f"/person/{small_catalog['sharon']}").text
    assert f'src="/thumb/{face}"' in page
    file_id = photo_of(small_catalog["db"], face)
    assert f'href="/photo/{file_id}"' in page
    assert client.get(f"/photo/{file_id}").content[:2] == b"\xff\xd8"
    assert client.get("/photo/999999").status_code == 404


def test_thumbnails_are_cut_once_and_cached_beside_the_catalog(client, small_catalog):
    face = small_catalog["faces"]["Colin_Powell"][0]
    first = client.get(f"/thumb/{face}")
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert first.content[:2] == b"\xff\xd8"
    cached = list(thumbs_dir(small_catalog["db"]).glob(f"{face}.jpg"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    assert client.get(f"/thumb/{face}").content == first.content
    assert cached[0].stat().st_mtime_ns == mtime
    assert client.get("/thumb/999999").headers["content-type"].startswith("image/svg")


def test_mutations_need_the_token(client, small_catalog):
    pid = small_catalog["sharon"]
    for kwargs in ({"data": {"name": "Evil"}}, {"data": {"name": "Evil", "token": "wrong"}},
                   {"data": {"name": "Evil"}, "headers": {"X-Facesets-Token": "nope"}}):
        response = client.post(f"/person/{pid}/rename", follow_redirects=False, **kwargs)
        assert response.status_code == 403
    face = small_catalog["intruder"]
    assert client.post(f"/person/{pid}/faces", data={"action": "remove", "face": face}).status_code == 403
    assert client.post("/settings", data={"min_faces": "3"}).status_code == 403
    assert person(small_catalog["db"], pid).name is None
    assert place(small_catalog["db"], face)[0] == pid
    ok = client.post(f"/person/{pid}/rename", data={"name": "Ariel"}, headers={"X-Facesets-Token": client.token},
                     follow_redirects=False)
    assert ok.status_code == 303
    assert person(small_catalog["db"], pid).name == "Ariel"


def test_remove_move_split_rename_merge_land_in_the_catalog(client, small_catalog):
    db, s = small_catalog["db"], small_catalog
    assert post(client, f"/person/{s['sharon']}/faces", {"action": "remove", "face": s["intruder"]}).status_code == 303
    assert place(db, s["intruder"]) == (None, "user")
    assert {p for f, p in excluded(db) if f == s["intruder"]} == {s["sharon"]}

    post(client, f"/person/{s['sharon']}/rename", {"name": "  Ariel   Sharon "})
    assert (person(db, s["sharon"]).name, person(db, s["sharon"]).pinned) == ("Ariel Sharon", True)

    # move one face by typing the target's name
    moved = s["faces"]["Colin_Powell"][0]
    post(client, f"/person/{s['powell']}/rename", {"name": "Colin"})
    post(client, f"/person/{s['powell']}/faces", {"action": "move", "face": moved, "target": "ariel sharon"})
    assert place(db, moved)[0] == s["sharon"]
    bad = post(client, f"/person/{s['powell']}/faces", {"action": "move", "face": s["faces"]["Colin_Powell"][1],
                                                        "target": "nobody at all"})
    assert "err=" in bad.headers["location"]

    split = s["faces"]["Gerhard_Schroeder"][:2]
    response = client.post(f"/person/{s['schroeder']}/faces", follow_redirects=False,
                           data={"token": client.token, "action": "split", "face": split, "name": "Gerhard young"})
    new = int(response.headers["location"].split("/person/")[1].split("?")[0])
    assert person(db, new).name == "Gerhard young"
    assert held(db, new) == set(split)

    post(client, f"/person/{s['rums_b']}/rename", {"name": "Rumsfeld"})
    post(client, f"/person/{s['rums_a']}/merge", {"other": str(s["rums_b"])})
    assert (person(db, s["rums_b"]).merged_into, person(db, s["rums_b"]).status) == (s["rums_a"], "merged")
    assert person(db, s["rums_a"]).n_faces == PER_IDENTITY
    assert person(db, s["rums_a"]).name == "Rumsfeld"
    gone = client.get(f"/person/{s['rums_b']}", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith(f"/person/{s['rums_a']}")
    grid = client.get("/").text
    assert "Ariel Sharon" in grid and "Rumsfeld" in grid and grid.count('data-person-id="') == 5


def test_grid_merge_of_selected_people(client, small_catalog):
    s = small_catalog
    response = post(client, "/people/merge", {"person": [s["rums_a"], s["rums_b"]]})
    assert response.status_code == 303
    kept = {place(s["db"], face)[0] for face in s["faces"]["Donald_Rumsfeld"]}
    assert len(kept) == 1


def test_unsorted_suggests_nearest_centroid_accept_and_reject(client, small_catalog):
    s, db = small_catalog, small_catalog["db"]
    post(client, f"/person/{s['sharon']}/faces", {"action": "remove", "face": s["intruder"]})
    page = client.get("/unsorted").text
    assert f'data-face-id="{s["intruder"]}"' in page
    with Catalog.open(db) as cat:   # the expected suggestion, computed independently
        ids, centroids = cat.people.centroids()
        emb = cat.faces.details([s["intruder"]])[s["intruder"]].embedding
        limit = profile_for(cat.embedding_model().key).match_distance
    distance = 1 - centroids @ emb
    allowed = ids != s["sharon"]
    best = int(ids[allowed][np.argmin(distance[allowed])])
    assert best == s["powell"] and distance[allowed].min() <= limit   # the intruder is Colin Powell's
    card = page.split(f'data-face-id="{s["intruder"]}"')[1].split("</li>")[0]
    assert f'name="target" value="{best}"' in card and 'value="accept"' in card
    post(client, f"/unsorted/{s['intruder']}", {"action": "reject", "target": best})
    assert (s["intruder"], best) in excluded(db)
    card = client.get("/unsorted").text.split(f'data-face-id="{s["intruder"]}"')[1].split("</li>")[0]
    assert f'name="target" value="{best}"' not in card
    # accepting (or assigning by number) puts the face in the person, pinned by the user
    post(client, f"/unsorted/{s['intruder']}", {"action": "assign", "target": str(s["powell"])})
    assert place(db, s["intruder"]) == (s["powell"], "user")
    assert f'data-face-id="{s["intruder"]}"' not in client.get("/unsorted").text


def test_find_by_uploaded_photo_ranks_the_right_person_first(client, small_catalog):
    photo = sorted((FACES / "lfw158" / "Colin_Powell").glob("*.jpg"))[PER_IDENTITY + 1]  # not in the catalog
    response = client.post("/find", data={"token": client.token},
                           files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")})
    assert response.status_code == 200 and "/find/q/" in str(response.url)
    page = client.get(str(response.url) + "&face=0" if "?" in str(response.url) else str(response.url) + "?face=0").text
    ranked = page.split('id="ranked-people"')[1]
    assert ranked.index(f'href="/person/{small_catalog["powell"]}"') < ranked.index("</li>")
    assert client.post("/find", files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")}).status_code == 403
    junk = client.post("/find", data={"token": client.token}, files={"photo": ("x.jpg", b"not an image", "image/jpeg")})
    assert "cannot use that photo" in junk.text


def test_find_by_catalog_photo_uses_stored_faces(client, small_catalog):
    face = small_catalog["faces"]["Gerhard_Schroeder"][0]
    file_id = photo_of(small_catalog["db"], face)
    page = client.get(f"/find/photo/{file_id}")
    assert page.status_code == 200
    assert f'href="/person/{small_catalog["schroeder"]}"' in page.text.split('id="ranked-people"')[1].split("</li>")[0]
    image = client.get(str(page.url).split("?")[0] + "/image")
    assert image.content[:2] == b"\xff\xd8"


def test_settings_are_stored_in_catalog_meta(client, small_catalog):
    assert post(client, "/settings", {"distance": "0.07", "min_faces": "4"}).status_code == 303
    with Catalog.open(small_catalog["db"], create=False) as cat:
        stored = json.loads(cat.get_meta("cluster_params"))
    assert stored == {"distance": 0.07, "min_faces": 4}
    bad = post(client, "/settings", {"min_faces": "many"})
    assert "err=" in bad.headers["location"]
    assert 'value="4"' in client.get("/settings").text


def test_path_style_requests_are_refused(small_catalog, tmp_path):
    """Raw request lines (http.client sends them as written; no client-side normalising)."""
    secret = small_catalog["db"].read_bytes()[:16]   # 'SQLite format 3\0'
    face = small_catalog["faces"]["Ariel_Sharon"][0]
    probes = ["/thumb/../catalog.db", "/thumb/..%2F..%2Fcatalog.db", "/photo//etc/passwd", "/photo/%2Fetc%2Fpasswd",
              "/static/../app.py", "/static/..%2F..%2F..%2Fcatalog.db", "/static/%2e%2e/%2e%2e/catalog.db",
              f"/thumb/{small_catalog['db']}", "/static//etc/passwd", "/thumb/1/../../../etc/passwd",
              "/find/q/..%2F..%2Fetc%2Fpasswd/image", "/photo/C:%5Cwindows%5Cwin.ini"]
    with ServerThread(small_catalog["db"]) as server:
        for probe in probes:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            conn.request("GET", probe)
            response = conn.getresponse()
            body = response.read()
            conn.close()
            assert response.status in (400, 403, 404), (probe, response.status)
            assert secret not in body and b"root:" not in body and b"import " not in body, probe
        # a stray path parameter is ignored: images are chosen by the id in the route only
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", f"/thumb/{face}?path=/etc/passwd&file=../catalog.db")
        response = conn.getresponse()
        assert response.status == 200 and response.read()[:2] == b"\xff\xd8"
        conn.close()
        # a foreign Host header (DNS rebinding) is refused
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", "/", headers={"Host": "evil.example"})
        assert conn.getresponse().status == 400
        conn.close()


def test_grid_pages_through_5000_people(tmp_path):
    db = tmp_path / "big.db"
    with Catalog.open(db) as cat:
        add_synthetic_people(cat, 5000, faces_per_person=2)
        with cat.transaction():
            for pid in range(1, 8):
                cat.people.set_status(pid, PersonStatus.THIN)
    with TestClient(create_app(db)) as c:
        first = c.get("/").text
        assert '<span class="count" id="total">5000 people</span>' in first
        assert first.count('data-person-id="') == 60 and "page 1 of 84" in first
        last = c.get("/?page=84").text
        assert last.count('data-person-id="') == 5000 - 83 * 60
        named = c.get("/?named=yes&sort=name").text
        assert "500 people" in named and named.index("Synthetic 00000") < named.index("Synthetic 00010")
        assert "1 people" in c.get("/?q=Synthetic 04990").text
        assert ">7 people<" in c.get("/?status=thin").text
        assert c.get("/person/4321").status_code == 200
        assert c.get("/thumb/1").headers["content-type"].startswith("image/svg")  # photo absent: placeholder


def test_export_runs_in_the_background(client, small_catalog, tmp_path):
    with Catalog.open(small_catalog["db"]) as cat:
        cat.people.set_facesets(p.id for p in cat.people.all())
    out = tmp_path / "export"
    response = post(client, "/export", {"out": str(out), "target": ["folders", "roop"]})
    assert response.status_code == 303
    client.web.jobs.wait(300)
    job = client.web.jobs.latest("export")
    assert job.status == "done", job.message
    assert client.get(f"/jobs/{job.id}").json()["status"] == "done"
    assert (out / "manifest.json").is_file()
    assert post(client, "/export", {"out": "relative/path"}).headers["location"].startswith("/export?err=")


def _start_serve(db, *extra):
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "facesets", "serve", "--catalog", str(db), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line


def _stop(proc) -> str:
    import signal
    import subprocess
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1]


def test_cli_serve_binds_loopback_and_prints_the_url(small_catalog):
    import re
    import urllib.request
    proc, line = _start_serve(small_catalog["db"], "--no-browser")
    try:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        with urllib.request.urlopen(match.group(0), timeout=30) as response:
            assert response.status == 200 and b"people" in response.read()
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=30)
        conn.request("GET", "/", headers={"Host": "rebound.example"})
        assert conn.getresponse().status == 400      # DNS rebinding: foreign Host refused
        conn.close()
    finally:
        stderr = _stop(proc)
    assert "warning" not in stderr and "database is locked" not in stderr


def test_cli_serve_warns_when_bound_beyond_loopback(small_catalog):
    proc, line = _start_serve(small_catalog["db"], "--no-browser", "--host", "0.0.0.0")
    try:
        assert "http://0.0.0.0:" in line
    finally:
        stderr = _stop(proc)
    assert "warning: serving on 0.0.0.0" in " ".join(stderr.split())


def test_cli_serve_refuses_a_missing_catalog(tmp_path):
    from conftest import run_cli
    result = run_cli("serve", "--catalog", tmp_path / "absent.db", "--no-browser", check=False)
    assert result.returncode == 2 and "no catalog" in result.stderr
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.slow
def test_decisions_made_in_the_ui_survive_extend_and_recluster(client, small_catalog, tmp_path):
    """Issue 6, acceptance 2: name, merge and removal made in the UI hold after `facesets extend`
    with new photos and a full re-cluster started from the settings page."""
    from conftest import run_cli
    s, db = small_catalog, small_catalog["db"]
    post(client, f"/person/{s['sharon']}/faces", {"action": "remove", "face": s["intruder"]})
    post(client, f"/person/{s['sharon']}/rename", {"name": "Ariel Sharon"})
    post(client, f"/person/{s['rums_a']}/merge", {"other": str(s["rums_b"])})

    new = tmp_path / "new"
    for name in ("Ariel_Sharon", "Donald_Rumsfeld"):
        (new / name).mkdir(parents=True)
        for path in sorted((FACES / "lfw158" / name).glob("*.jpg"))[PER_IDENTITY:PER_IDENTITY + 2]:
            shutil.copy2(path, new / name / path.name)
    run_cli("embed", new, "--catalog", db, "--engine", "dlib", "-q")
    run_cli("extend", "--catalog", db)

    def check(stage: str) -> None:
        with Catalog.open(db, create=False) as cat:
            named = [p for p in cat.people.all() if p.name == "Ariel Sharon" and p.merged_into is None]
        assert len(named) == 1, stage
        holder = named[0].id
        sharon_faces = s["faces"]["Ariel_Sharon"]
        assert len(held(db, holder) & set(sharon_faces)) >= len(sharon_faces) - 1, stage   # the name stays with Sharon's faces
        assert place(db, s["intruder"])[0] != holder, stage
        rums = {place(db, face)[0] for face in s["faces"]["Donald_Rumsfeld"]}
        assert len(rums) == 1 and None not in rums, stage    # the merge holds
        assert person(db, s["rums_b"]).status == "merged", stage

    check("after extend")
    assert post(client, "/settings/recluster", {}).status_code == 303
    client.web.jobs.wait(300)
    job = client.web.jobs.latest("cluster")
    assert job.status == "done", job.message
    check("after re-cluster")
    assert "done" in client.get("/settings").text


def test_names_are_escaped_and_pages_carry_security_headers(client, small_catalog):
    pid = small_catalog["sharon"]
    post(client, f"/person/{pid}/rename", {"name": '<script>alert("x")</script>'})
    for url in ("/", f"/person/{pid}"):
        response = client.get(url)
        assert "<script>alert" not in response.text and "&lt;script&gt;alert" in response.text
        assert "script-src" not in response.headers["content-security-policy"]   # default-src 'self' covers it
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
    assert person(small_catalog["db"], pid).name == '<script>alert("x")</script>'


def test_an_empty_catalog_renders_every_page(tmp_path):
    db = tmp_path / "empty.db"
    Catalog.open(db).close()
    app = create_app(db)
    with TestClient(app) as c:
        for url in ("/", "/unsorted", "/find", "/export", "/settings"):
            assert c.get(url).status_code == 200, url
        assert "No people yet" in c.get("/").text
        assert c.get("/person/1").status_code == 404
        assert c.get("/find/q/nope").status_code == 200  # expired search: back to the find page
        photo = sorted((FACES / "lfw158" / "Colin_Powell").glob("*.jpg"))[0]
        answer = c.post("/find", data={"token": app.state.web.token},
                        files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")})
        assert "no embeddings yet" in answer.text


def test_covers_are_cut_at_start_and_travel_inside_the_grid_page(small_catalog):
    import threading
    app = create_app(small_catalog["db"], prewarm_pages=1)
    for thread in threading.enumerate():
        if thread.name == "facesets-prewarm":
            thread.join(120)
    assert len(list(thumbs_dir(small_catalog["db"]).glob("*.jpg"))) == 5     # one cover per person
    with TestClient(app) as c:
        grid = c.get("/").text
    assert grid.count('src="data:image/jpeg;base64,') == 5 and 'src="/thumb/' not in grid


def test_unsorted_actions_keep_the_page_and_refuse_unknown_faces(client, small_catalog):
    s = small_catalog
    response = post(client, f"/unsorted/{s['intruder']}", {"action": "assign", "target": "nobody", "page": "2"})
    assert response.headers["location"] == "/unsorted?page=2&err=no+such+person"
    assert post(client, "/unsorted/999999", {"action": "reject", "target": str(s["powell"])}).status_code == 404
    assert excluded(s["db"]) == set()


def test_merge_into_a_missing_or_merged_person_is_refused(client, small_catalog):
    s = small_catalog
    assert post(client, "/person/999/merge", {"other": str(s["powell"])}).status_code == 404
    post(client, f"/person/{s['rums_a']}/merge", {"other": str(s["rums_b"])})
    assert post(client, f"/person/{s['rums_b']}/merge", {"other": str(s["powell"])}).status_code == 404
    assert person(s["db"], s["powell"]).merged_into is None


def test_suggestions_follow_the_match_distance_set_on_the_settings_page(client, small_catalog):
    s = small_catalog
    post(client, f"/person/{s['sharon']}/faces", {"action": "remove", "face": s["intruder"]})
    card = lambda: client.get("/unsorted").text.split(f'data-face-id="{s["intruder"]}"')[1].split("</li>")[0]  # noqa: E731
    assert 'value="accept"' in card()
    post(client, "/settings", {"match_distance": "0.001"})   # stricter than the intruder's distance (~0.02)
    assert 'value="accept"' not in card()


def test_catalog_connections_are_reused_per_thread_and_reads_never_migrate(small_catalog, monkeypatch):
    opened, migrations = [], []
    real_open, real_migrate = Catalog.open.__func__, Catalog._migrate

    def counting_open(cls, path, create=True, readonly=False, migrate=True):
        opened.append((threading.current_thread(), migrate))   # the thread itself: never reused while held
        return real_open(cls, path, create, readonly, migrate)

    def counting_migrate(self):
        migrations.append(self.path)
        return real_migrate(self)

    monkeypatch.setattr(Catalog, "open", classmethod(counting_open))
    monkeypatch.setattr(Catalog, "_migrate", counting_migrate)
    s = small_catalog
    app = create_app(s["db"])
    assert len(opened) == len(migrations) == 1                     # the app factory: the one migration check
    with TestClient(app) as c:
        token = app.state.web.token
        for _ in range(10):
            for url in ("/", f"/person/{s['sharon']}", "/unsorted", "/export", "/settings"):
                assert c.get(url).status_code == 200, url
            response = c.post(f"/person/{s['powell']}/rename", data={"name": "Colin", "token": token},
                              follow_redirects=False)
            assert response.status_code == 303
    served = opened[1:]
    threads = {id(thread) for thread, _ in served}
    assert served and all(not migrate for _, migrate in served)   # requests never migrate
    assert len(served) == len(threads) < 10                        # one catalog per worker thread, reused
    assert len(migrations) == 1 and person(s["db"], s["powell"]).name == "Colin"


def test_ui_edits_stay_possible_while_another_process_holds_the_writer_lock(client, small_catalog):
    """A long `facesets run` holds the writer lock: edits still land (one short transaction each,
    no lock taken); background jobs, which take the lock, are refused with the usual message."""
    s, db = small_catalog, small_catalog["db"]
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITER_LOCK, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Catalog.open(db, create=False) as cat:
            assert cat.writer_active()
        assert post(client, f"/person/{s['sharon']}/rename", {"name": "Ariel Sharon"}).status_code == 303
        assert post(client, f"/person/{s['sharon']}/faces", {"action": "remove", "face": s["intruder"]}).status_code == 303
        assert post(client, f"/person/{s['rums_a']}/merge", {"other": str(s["rums_b"])}).status_code == 303
        assert post(client, "/settings", {"min_faces": "4"}).status_code == 303
        assert post(client, "/settings/recluster", {}).status_code == 303
        client.web.jobs.wait(120)
        job = client.web.jobs.latest("cluster")
        assert job.status == "failed" and "in use by another facesets process" in job.message
    finally:
        holder.communicate("", timeout=30)
    assert person(db, s["sharon"]).name == "Ariel Sharon" and place(db, s["intruder"])[0] is None
    assert person(db, s["rums_b"]).merged_into == s["rums_a"]


def test_grid_merge_picks_the_winner_by_the_one_priority_rule(client, small_catalog):
    """Named or pinned people come first, then the most faces (catalog.people.priority_key): a
    person the user split off (pinned, unnamed) outranks a bigger person nobody touched, and a
    big pinned person outranks a small named one, whose name it takes."""
    s, db = small_catalog, small_catalog["db"]
    split = s["faces"]["Gerhard_Schroeder"][:2]
    response = post(client, f"/person/{s['schroeder']}/faces", {"action": "split", "face": split})
    pinned = int(response.headers["location"].split("/person/")[1].split("?")[0])
    assert person(db, pinned).pinned and person(db, pinned).name is None
    assert person(db, pinned).n_faces < person(db, s["powell"]).n_faces
    response = post(client, "/people/merge", {"person": [s["powell"], pinned]})
    assert response.headers["location"].startswith(f"/person/{pinned}?")
    assert person(db, s["powell"]).merged_into == pinned
    post(client, f"/person/{s['rums_b']}/rename", {"name": "Rumsfeld"})
    response = post(client, "/people/merge", {"person": [s["rums_b"], pinned]})   # 3 named vs 7 pinned
    assert response.headers["location"].startswith(f"/person/{pinned}?")
    assert "Rumsfeld" in response.headers["location"]
    assert person(db, pinned).name == "Rumsfeld" and person(db, s["rums_b"]).merged_into == pinned


HOLD_WRITER_LOCK = """
import sys
from facesets.catalog import Catalog
with Catalog.open(sys.argv[1], create=False) as catalog, catalog.writer("facesets run (test)"):
    print("locked", flush=True)
    sys.stdin.read()
"""
