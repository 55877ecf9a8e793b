"""Names from XMP face regions that ExifTool wrote: embedded and in a Lightroom sidecar, on an
upright and an EXIF-rotated photo, matched to the detected faces (or embedded at the region's
box where nothing was detected), seeding people that clustering keeps (issue 18, acceptance 3)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from facesets.catalog import Catalog
from facesets.cluster import cluster
from facesets.embed import EmbedOptions, embed
from facesets.embed.regions import match_boxes, overlap
from facesets.engines import EngineOptions
from facesets.media.xmp import parse_regions, regions_packet
from xmphelp import BIDEN, KIT, KNN, NOBODY, OBAMA, ROSE, grown, rotated_copy, write_regions


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


@pytest.fixture
def library(tmp_path) -> Path:
    lib = tmp_path / "lib"
    for person in ("obama", "biden", "kit_harington", "rose_leslie"):
        shutil.copytree(KNN / "train" / person, lib / "train" / person)
    group = lib / "group"
    group.mkdir()
    upright = shutil.copy(KNN / "test" / "obama_and_biden.jpg", group / "obama_and_biden.jpg")
    turned = rotated_copy(KNN / "test" / "obama_and_biden.jpg", group / "obama_and_biden_turned.jpg")
    for photo in (upright, turned):   # embedded regions, drawn larger than dlib's boxes, as taggers do
        write_regions(Path(photo), [("Joe Biden", grown(BIDEN)), ("Barack Obama", grown(OBAMA))], 2000, 1428)
    kit = shutil.copy(KNN / "test" / "kit_with_rose.jpg", group / "kit_with_rose.jpg")
    scratch = tmp_path / "scratch.jpg"
    shutil.copy(kit, scratch)            # the sidecar is made from a copy: the photo itself stays untouched
    write_regions(scratch, [("Kit Harington", KIT), ("Rose Leslie", ROSE), ("Nobody", NOBODY)], 501, 700,
                  out=group / "kit_with_rose.xmp")                  # Lightroom's sidecar name
    return lib


def _digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_regions_match_detections_by_overlap_one_to_one():
    assert overlap((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert overlap((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert overlap(grown((0, 0, 10, 10)), (0, 0, 10, 10)) == 0.5     # a tight box inside a tagger's
    assert overlap((0, 0, 100, 100), (40, 40, 50, 50)) < 0.5          # a small face inside a big region: no
    assert match_boxes([(0, 0, 10, 10), (100, 0, 110, 10)], [(101, 0, 111, 10), (1, 0, 11, 10)]) == {0: 1, 1: 0}
    assert match_boxes([(0, 0, 10, 10)], [(0, 0, 10, 10), (1, 0, 11, 10)]) == {0: 0}


def test_a_packet_round_trips_and_keeps_only_face_regions():
    import pyexiv2

    packet = regions_packet([("Ada", (100, 50, 300, 250)), ("Ünïcode <&>", (0, 0, 40, 40))], 400, 500)
    image = pyexiv2.ImageData(packet)
    xmp = image.read_xmp()
    image.close()
    regions = parse_regions(xmp, 400, 500)
    assert [r.name for r in regions] == ["Ada", "Ünïcode <&>"]
    assert [round(v, 3) for v in regions[0].box] == [100, 50, 300, 250]
    xmp["Xmp.mwg-rs.Regions/mwg-rs:RegionList[2]/mwg-rs:Type"] = "Pet"
    assert [r.name for r in parse_regions(xmp, 400, 500)] == ["Ada"]


@pytest.mark.slow
def test_exiftool_regions_name_the_right_faces_and_seed_people_clustering_keeps(tmp_path, library):
    before = _digests(library)
    with Catalog.open(tmp_path / "c.db") as catalog:
        embed(catalog, [library], engine_options=EngineOptions(engine="dlib"))
        named = {}
        for face in catalog.faces.all():
            if face.person_id is not None:
                named[(Path(face.path).name, catalog.people.get(face.person_id).name)] = face
        for photo in ("obama_and_biden.jpg", "obama_and_biden_turned.jpg"):   # upright and EXIF-rotated
            for name, box in (("Joe Biden", BIDEN), ("Barack Obama", OBAMA)):
                face = named[(photo, name)]
                assert max(abs(a - b) for a, b in zip(_centre(face.box), _centre(box))) < 10, (photo, name)
                assert face.score > 0 and face.origin["detected"] and face.assigned_by == "import"
        for name, box in (("Kit Harington", KIT), ("Rose Leslie", ROSE)):   # the Lightroom sidecar
            assert max(abs(a - b) for a, b in zip(_centre(named[("kit_with_rose.jpg", name)].box), _centre(box))) < 10
        nobody = named[("kit_with_rose.jpg", "Nobody")]                     # no detection there: the box as given
        assert nobody.score == 0.0 and not nobody.origin["detected"] and nobody.embedding.shape == (128,)
        assert [round(v) for v in nobody.box] == list(NOBODY)
        people = {p.name: p for p in catalog.people.active()}
        assert all(people[n].pinned for n in ("Joe Biden", "Barack Obama", "Kit Harington", "Rose Leslie"))
        seeded = {f.id: f.person_id for f in catalog.faces.all() if f.person_id is not None}

        cluster(catalog)
        after = catalog.faces.all()
        assert all(f.person_id == seeded[f.id] for f in after if f.id in seeded)   # the named faces stay
        for folder, name in (("obama", "Barack Obama"), ("biden", "Joe Biden"), ("kit_harington", "Kit Harington"),
                             ("rose_leslie", "Rose Leslie")):
            train = [f for f in after if Path(f.path).parent.name == folder]
            assert train and all(f.person_id == people[name].id for f in train), folder   # joined the named person
        assert {p.name for p in catalog.people.active() if p.name} == {"Joe Biden", "Barack Obama", "Kit Harington",
                                                                       "Rose Leslie", "Nobody"}
    assert _digests(library) == before


def test_no_xmp_reads_no_names(tmp_path, library):
    with Catalog.open(tmp_path / "c.db") as catalog:
        embed(catalog, [library / "group" / "kit_with_rose.jpg"], engine_options=EngineOptions(engine="dlib"),
              options=EmbedOptions(read_xmp=False))
        assert catalog.people.count() == 0 and len(catalog.faces.all()) == 2
