"""`facesets run` end to end on lfw158, and what the export promises: roop bundles that are
stored zips of one-face 512 px PNGs, byte-identical re-exports, a contact sheet that renders,
candidates for a held-out photo."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from conftest import FACES, run_cli
from facesets.catalog import Catalog
from facesets.embed import embed
from facesets.engines import EngineOptions
from facesets.export import engine_maker, export
from facesets.export.crops import CropChecker

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def lfw_run(_lfw158_dlib, tmp_path_factory) -> Path:
    """`facesets run lfw158 OUT`, its catalog seeded from the session's embedded copy (so the
    embed stage only re-scans), everything else computed here."""
    out = tmp_path_factory.mktemp("run") / "out"
    out.mkdir()
    shutil.copyfile(_lfw158_dlib, out / "library.db")
    result = run_cli("run", FACES / "lfw158", out, "--engine", "dlib", "-q")
    assert "export" in result.stdout
    return out


def _bundles(out: Path) -> list[Path]:
    return sorted((out / "facesets").glob("*.fsz"))


@pytest.mark.slow
def test_run_writes_roop_bundles_of_single_face_crops(lfw_run):
    bundles = _bundles(lfw_run)
    assert len(bundles) >= 2 * 30
    with Catalog.open(lfw_run / "library.db", readonly=True) as cat:
        maker = engine_maker(cat)
    unique: dict[str, bytes] = {}
    for bundle in bundles:
        with zipfile.ZipFile(bundle) as archive:
            names = archive.namelist()
            assert names == [f"{i}.png" for i in range(len(names))] and names
            for info in archive.infolist():
                assert info.compress_type == zipfile.ZIP_STORED
                data = archive.read(info)
                digest = hashlib.sha256(data).hexdigest()
                if digest in unique:
                    continue
                image = Image.open(io.BytesIO(data))
                assert image.format == "PNG" and image.size == (512, 512)
                unique[digest] = data
    with CropChecker(maker, parallel=True) as checker:  # the engine re-detects every crop
        checked = dict(zip(unique, checker.counts(list(unique.values()))))
    assert set(checked.values()) == {1}, f"{sum(v != 1 for v in checked.values())} crops without exactly one face"
    top = [b for b in bundles if "_top30" in b.name]
    assert all(len(zipfile.ZipFile(b).namelist()) <= 30 for b in top)
    manifest = json.loads((lfw_run / "facesets" / "manifest.json").read_text())
    assert manifest["provenance"]["engine"] == "dlib"
    first = manifest["facesets"][0]
    per = json.loads((lfw_run / "facesets" / first["folder"] / "manifest.json").read_text())
    qualities = [f["quality"] for f in per["faces"]]
    assert qualities == sorted(qualities, reverse=True)  # best first
    assert set(per["faces"][0]["components"]) == {"q_frontal", "q_det", "q_symmetry", "q_size", "q_sharp"}
    assert (lfw_run / "facesets" / "photos" / first["folder"]).is_dir()  # the folders target


@pytest.mark.slow
def test_export_again_is_byte_identical_and_candidates_place_a_held_out_photo(lfw_run, tmp_path):
    """A second export (with --candidates, after one more photo arrived) gives byte-identical
    bundles with identical names, and the held-out photo of a known identity lands in
    _candidates/to_<its faceset>/."""
    db = tmp_path / "copy.db"
    shutil.copyfile(lfw_run / "library.db", db)
    manifest = json.loads((lfw_run / "facesets" / "manifest.json").read_text())
    entry = manifest["facesets"][0]
    faces = json.loads((lfw_run / "facesets" / entry["folder"] / "manifest.json").read_text())["faces"]
    with Catalog.open(db, readonly=True) as cat:
        single = {f.path for f in cat.files.all() if f.n_faces == 1}
    source = Path(next(f["source"] for f in faces if f["source"] in single))
    held_out = tmp_path / "new_photos" / f"held_out_{source.name}"
    held_out.parent.mkdir()
    ImageOps.mirror(Image.open(source)).save(held_out, quality=95)  # new bytes, same person
    with Catalog.open(db) as cat:
        embed(cat, [held_out.parent], engine_options=EngineOptions(engine="dlib"))
        export(cat, tmp_path / "again", targets=("roop",), candidates=True)
    first = {p.name: p.read_bytes() for p in _bundles(lfw_run)}
    second = {p.name: p.read_bytes() for p in sorted((tmp_path / "again").glob("*.fsz"))}
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)
    placed = list((tmp_path / "again" / "_candidates" / f"to_{entry['folder']}").iterdir())
    assert any("held_out" in p.name for p in placed)


@pytest.mark.slow
def test_contact_sheet_renders_in_chromium(lfw_run, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    sheet = lfw_run / "facesets" / "index.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page()
        page.goto(sheet.as_uri())
        rows = page.locator(".row").count()
        # the first row is on screen, so its (lazy) crops load: wait until they have
        first_row = "Array.from(document.querySelectorAll('.row')[0].querySelectorAll('img'))"
        page.wait_for_function(f"{first_row}.every(i => i.complete)", timeout=30_000)
        loaded = page.evaluate(f"{first_row}.length > 0 && {first_row}.every(i => i.naturalWidth === 512)")
        page.screenshot(path=str(tmp_path / "contact_sheet.png"), full_page=False)
        browser.close()
    manifest = json.loads((lfw_run / "facesets" / "manifest.json").read_text())
    assert rows == len(manifest["facesets"])
    assert loaded
    assert (tmp_path / "contact_sheet.png").stat().st_size > 10_000


def test_export_refuses_foreign_folder_and_bad_target(lfw158_catalog, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    refused = run_cli("export", tmp_path / "mine", "--catalog", lfw158_catalog, "-q", check=False)
    assert refused.returncode != 0 and "did not write" in refused.stderr
    bad = run_cli("export", tmp_path / "new", "--catalog", lfw158_catalog, "-t", "nonsense", "-q", check=False)
    assert bad.returncode != 0 and "unknown export target" in bad.stderr
    assert not (tmp_path / "new").exists()
