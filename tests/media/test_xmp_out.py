"""`facesets tag`: named faces written as MWG face regions that ExifTool reads back on the right
faces, upright and EXIF-rotated; beside sources only new sidecars, an existing one never touched,
images never written, and `facesets undo` removes what it created (issue 18, acceptance 3)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from facesets.catalog import Catalog
from facesets.cluster import cluster
from facesets.embed import EmbedOptions, embed
from facesets.engines import EngineOptions
from xmphelp import KNN, exiftool, read_regions, rotated_copy

BIDEN, OBAMA = (738, 432, 954, 645), (1126, 404, 1331, 607)        # obama_and_biden.jpg, 2000 x 1428
KIT, ROSE = (241, 95, 348, 201), (81, 128, 157, 203)                # kit_with_rose.jpg, 501 x 700
NAMES = {"obama_and_biden.jpg": [("Joe Biden", BIDEN), ("Barack Obama", OBAMA)],
         "obama_and_biden_turned.jpg": [("Joe Biden", BIDEN), ("Barack Obama", OBAMA)],
         "kit_with_rose.jpg": [("Kit Harington", KIT)]}
SIZES = {"obama_and_biden.jpg": (2000, 1428), "obama_and_biden_turned.jpg": (2000, 1428), "kit_with_rose.jpg": (501, 700)}


def _centre(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def named_library(tmp_path_factory) -> dict:
    """Photos (one EXIF-rotated, one with a sidecar of its own) embedded, clustered and named."""
    root = tmp_path_factory.mktemp("tag")
    lib = root / "lib"
    for person in ("obama", "biden", "kit_harington", "rose_leslie"):
        shutil.copytree(KNN / "train" / person, lib / "train" / person)
    group = lib / "group"
    group.mkdir()
    shutil.copy(KNN / "test" / "obama_and_biden.jpg", group)
    rotated_copy(KNN / "test" / "obama_and_biden.jpg", group / "obama_and_biden_turned.jpg")
    shutil.copy(KNN / "test" / "kit_with_rose.jpg", group)
    exiftool("-q", "-o", group / "kit_with_rose.jpg.xmp", "-XMP-dc:Title=the user's own", group / "kit_with_rose.jpg")
    catalog_path = root / "c.db"
    with Catalog.open(catalog_path) as catalog:
        embed(catalog, [lib], engine_options=EngineOptions(engine="dlib"), options=EmbedOptions(read_xmp=False))
        cluster(catalog)
        faces = catalog.faces.all()
        for photo, named in NAMES.items():
            for name, box in named:
                face = min((f for f in faces if Path(f.path).name == photo),
                           key=lambda f: sum(abs(a - b) for a, b in zip(_centre(f.box), _centre(box))))
                assert face.person_id is not None
                if catalog.people.get(face.person_id).name not in (None, name):
                    raise AssertionError(f"{photo}: {name}'s face is in another named person")
                catalog.people.rename(face.person_id, name)
    return {"lib": lib, "catalog": catalog_path, "root": root}


def _assert_on_the_right_faces(sidecar: Path, photo: str, extra: set[str] = frozenset()) -> None:
    regions = read_regions(sidecar)                                 # ExifTool, the independent reader
    width, height = SIZES[photo]
    assert {r["name"] for r in regions} == {n for n, _ in NAMES[photo]} | extra, sidecar
    for name, box in NAMES[photo]:
        (region,) = [r for r in regions if r["name"] == name]
        cx, cy = _centre(box)
        assert abs(region["x"] - cx / width) <= 0.05 and abs(region["y"] - cy / height) <= 0.05, (photo, name)


def test_tag_writes_a_mirror_tree_exiftool_reads_on_the_right_faces(tmp_path, named_library):
    before = _digests(named_library["lib"])
    out = tmp_path / "xmp"
    run_cli("tag", out, "--catalog", named_library["catalog"])
    for photo in NAMES:
        _assert_on_the_right_faces(out / "group" / f"{photo}.xmp", photo)
    train = sorted(p.relative_to(out).as_posix() for p in (out / "train").rglob("*.xmp"))
    assert train and all(p.split("/")[1] in ("obama", "biden", "kit_harington") for p in train)   # Rose: unnamed
    assert (out / ".facesets-tree").is_file()
    run_cli("tag", out, "--catalog", named_library["catalog"], "--unnamed")   # again, into its own tree
    rose = [r for r in read_regions(out / "group" / "kit_with_rose.jpg.xmp") if r["name"].startswith("person_")]
    assert len(rose) == 1 and abs(rose[0]["x"] - _centre(ROSE)[0] / 501) <= 0.05
    assert _digests(named_library["lib"]) == before


def test_beside_sources_creates_only_new_sidecars_and_undo_removes_them(tmp_path, named_library):
    lib = named_library["lib"]
    own = lib / "group" / "kit_with_rose.jpg.xmp"
    images = {p: d for p, d in _digests(lib).items() if not p.endswith(".xmp")}
    own_bytes = own.read_bytes()
    out = tmp_path / "elsewhere"
    proc = run_cli("tag", out, "--catalog", named_library["catalog"], "--beside-sources")
    assert str(own) in proc.stdout                                  # listed, left as it is
    assert own.read_bytes() == own_bytes
    created = sorted(p for p in lib.rglob("*.jpg.xmp") if p != own)
    assert lib / "group" / "obama_and_biden.jpg.xmp" in created and len(created) >= 6
    for photo in ("obama_and_biden.jpg", "obama_and_biden_turned.jpg"):
        _assert_on_the_right_faces(lib / "group" / f"{photo}.xmp", photo)
    _assert_on_the_right_faces(out / "kit_with_rose.jpg.xmp", "kit_with_rose.jpg")   # its regions went to OUT
    assert {p: d for p, d in _digests(lib).items() if not p.endswith(".xmp")} == images   # no image written
    # a second run never touches the sidecars the first one made
    again = run_cli("tag", out, "--catalog", named_library["catalog"], "--beside-sources")
    assert "0 new sidecars" in again.stdout
    run_cli("undo", "--catalog", named_library["catalog"])          # the first run's sidecars go (the second made none)
    assert sorted(lib.rglob("*.xmp")) == [own] and own.read_bytes() == own_bytes
    assert "nothing to undo" in run_cli("undo", "--catalog", named_library["catalog"], check=False).stderr
    assert {p: d for p, d in _digests(lib).items() if not p.endswith(".xmp")} == images
