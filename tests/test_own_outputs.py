"""What facesets writes is never a source: export and cluster trees, the importer's folder and a
catalog's web thumbnails are skipped by the scan, which says so once (issue 18, acceptance 1)."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import FACES, PHOTOS, notices_of_facesets, run_cli
from facesets.catalog import Catalog
from facesets.outputs import IMPORTS_MARK, OWN_MARK, own_output
from facesets.scan import iter_image_paths
from facesets.scan.walk import Skipped


def _catalog_file(path: Path) -> Path:
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    return path


def test_own_outputs_are_known_by_their_mark_or_beside_their_catalog(tmp_path):
    lib = tmp_path / "lib"
    for folder in ("export", "imports", "lib.db.thumbs", "lib_imports", "plain", "notes.thumbs", "x_imports"):
        (lib / folder).mkdir(parents=True)
        (lib / folder / "a.jpg").write_bytes(b"not read")
    (lib / "export" / OWN_MARK).write_text("")
    (lib / "imports" / IMPORTS_MARK).write_text("")
    _catalog_file(lib / "lib.db")
    (lib / "notes").write_text("a text file, not a catalog")
    (lib / "x.txt").write_text("neither")
    assert own_output(lib / "export") == "facesets output"
    assert own_output(lib / "imports") == own_output(lib / "lib_imports") == "facesets import folder"
    assert own_output(lib / "lib.db.thumbs") == "facesets web thumbnails"
    assert [own_output(lib / f) for f in ("plain", "notes.thumbs", "x_imports")] == [None, None, None]
    found = list(iter_image_paths([lib]))
    assert [Path(p).parent.name for p in found if isinstance(p, str)] == ["notes.thumbs", "plain", "x_imports"]
    assert sorted(Path(s.path).name for s in found if isinstance(s, Skipped)) == \
        ["export", "imports", "lib.db.thumbs", "lib_imports"]
    # a source named as such is read as asked (an export's crops with --input crops)
    assert [Path(p).name for p in iter_image_paths([lib / "export"])] == ["a.jpg"]


@pytest.mark.slow
def test_run_twice_into_a_folder_inside_the_photos_changes_nothing(tmp_path):
    """Acceptance 1: `facesets run PHOTOS PHOTOS/out` twice: the second run leaves files and faces
    as they were and every crop and .fsz byte-identical (it skips its own output, once)."""
    photos = tmp_path / "PHOTOS"
    for name in ("Tony_Blair", "Colin_Powell", "Gloria_Macapagal_Arroyo", "Serena_Williams"):
        (photos / name).mkdir(parents=True)
        for photo in sorted((FACES / "lfw158" / name).iterdir())[:6]:
            shutil.copy(photo, photos / name)
    shutil.copy(PHOTOS / "t1.jpg", photos / "t1.jpg")
    out = photos / "out"
    out.mkdir()
    with Catalog.open(out / "library.db") as catalog:   # small facesets: 3 faces make one
        catalog.set_meta("cluster_params", json.dumps({"min_faces": 3}))

    def state():
        with Catalog.open(out / "library.db") as catalog:
            files = [(f.id, f.path, f.sha256, f.status) for f in catalog.files.all()]
            places = catalog.files.locations(f[0] for f in files)
            faces = [(f.id, f.file_id, f.box, f.person_id) for f in catalog.faces.all()]
        tree = {str(p.relative_to(out / "facesets")): p.read_bytes() for p in sorted((out / "facesets").rglob("*"))
                if p.is_file() and p.suffix in (".png", ".fsz", ".jpg")}
        return files, places, faces, tree

    first = run_cli("run", photos, out, "--engine", "dlib", "--quiet")
    assert "skipped" not in first.stderr
    before = state()
    assert sum(1 for name in before[3] if name.endswith(".png")) >= 12 and any(n.endswith(".fsz") for n in before[3])
    second = run_cli("run", photos, out, "--engine", "dlib", "--quiet")
    assert second.stderr.count("skipped 1 folder(s) facesets wrote") == 1 and str(out / "facesets") in second.stderr
    after = state()
    assert after[0] == before[0] and after[1] == before[1] and after[2] == before[2]
    assert after[3].keys() == before[3].keys() and after[3] == before[3]


def test_the_scan_says_once_what_it_skipped(tmp_path):
    from facesets.scan import scan

    lib = tmp_path / "lib"
    (lib / "out" / "facesets").mkdir(parents=True)
    (lib / "out" / "facesets" / OWN_MARK).write_text("")
    (lib / "out" / "facesets" / "0.png").write_bytes(b"x")
    with Catalog.open(tmp_path / "c.db") as catalog, notices_of_facesets() as notices:
        stats = scan(catalog, [lib])
        assert stats.skipped == [str(lib / "out" / "facesets")] and stats.seen == 0
    assert notices == [f"skipped 1 folder(s) facesets wrote (its own outputs are never sources): {lib / 'out' / 'facesets'}"]
