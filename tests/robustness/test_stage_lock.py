"""One writer across a whole `facesets run`: paused at every stage boundary, another writing
command is refused with the one-line "in use" error, and the run ends as an undisturbed one.
The web UI's short edits are not writers: made at a pause, they are still there at the end."""
from __future__ import annotations

import pytest

from conftest import run_cli
from facesets.catalog import Catalog
from rbhelp import Paused
from test_crash import _args, _corpus, _rebased, catalog_dump, output_dump

BOUNDARIES = ["stage:embed", "stage:cluster", "stage:refine", "stage:enrich", "stage:export"]
# writing commands another user could start meanwhile; each must be refused
WRITERS = {
    "stage:embed": lambda src, db: ["embed", str(src), "--catalog", str(db), "--engine", "dlib", "-q"],
    "stage:cluster": lambda src, db: ["cluster", "--catalog", str(db), "-q"],
    "stage:refine": lambda src, db: ["extend", "--catalog", str(db), "-q"],
    "stage:enrich": lambda src, db: ["enrich", "--catalog", str(db), "-q"],
    "stage:export": lambda src, db: ["doctor", "--catalog", str(db), "--repair"],
}


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    base = tmp_path_factory.mktemp("stage-lock")
    src = _corpus(base)
    out, db = base / "clean" / "out", base / "clean" / "out" / "catalog.db"
    run_cli(*_args(src, out, db))
    return {"src": src, "out": out, "catalog": catalog_dump(db), "outputs": output_dump(out)}


def test_every_stage_boundary_refuses_another_writer(undisturbed, tmp_path):
    src = undisturbed["src"]
    out, db = tmp_path / "out", tmp_path / "out" / "catalog.db"
    run = Paused(_args(src, out, db), BOUNDARIES, tmp_path / "pause")
    refusals = []
    for expected in BOUNDARIES:
        point = run.wait_paused()
        assert point == expected
        other = run_cli(*WRITERS[point](src, db), check=False)
        refusals.append((point, other.returncode, other.stderr.strip()))
        run.resume()
    result = run.finish()
    assert result.returncode == 0, result.stderr[-2000:]
    for point, code, stderr in refusals:
        assert code != 0, f"{point}: another writer was let in"
        assert "in use by another facesets process" in stderr and len(stderr.splitlines()) == 1, (point, stderr)
    assert _rebased(catalog_dump(db), out, undisturbed["out"]) == undisturbed["catalog"]
    assert _rebased(output_dump(out), out, undisturbed["out"]) == undisturbed["outputs"]


def test_web_edits_made_at_a_pause_survive_the_run(undisturbed, tmp_path):
    from starlette.testclient import TestClient

    from facesets.web.app import create_app

    src = undisturbed["src"]
    out, db = tmp_path / "out", tmp_path / "out" / "catalog.db"
    run = Paused(_args(src, out, db), ["stage:refine"], tmp_path / "pause")
    assert run.wait_paused() == "stage:refine"        # cluster made people; refine is next
    with Catalog.open(db, readonly=True) as catalog:
        biggest = max(catalog.people.active(), key=lambda p: (p.n_faces, -p.id))
        removed = catalog.faces.ids_of_person(biggest.id)[-1]
    app = create_app(db, token="t")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        headers = {"x-facesets-token": "t"}
        assert client.post(f"/person/{biggest.id}/rename", data={"name": "Kept Name"}, headers=headers,
                           follow_redirects=False).status_code == 303
        assert client.post(f"/person/{biggest.id}/faces", data={"action": "remove", "face": removed},
                           headers=headers, follow_redirects=False).status_code == 303
    run.resume()
    result = run.finish()
    assert result.returncode == 0, result.stderr[-2000:]
    with Catalog.open(db, readonly=True) as catalog:
        person = catalog.people.get(catalog.people.resolve(biggest.id), with_count=True)
        assert person.name == "Kept Name" and person.n_faces >= 2
        assert catalog.faces.person_of(removed) != person.id
        assert (removed, biggest.id) in catalog.people.exclusions()
