"""Reduced (DCT) decoding keeps small faces findable and every coordinate in original pixels."""
from __future__ import annotations


import numpy as np
import pytest

from facesets.catalog import Catalog
from facesets.embed import EmbedOptions, embed  # not `from facesets import embed`: that is the subpackage
from facesets.engines import EngineOptions, load_engine

from conftest import FACES, bench_module, face_rows



@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """One 12 MP JPEG stored rotated (EXIF orientation 6) with its faces' truth boxes."""
    make = bench_module("make_photos")
    folder = tmp_path_factory.mktemp("photo")
    faces = [str(p) for p in make.face_files(FACES / "lfw158")]
    # index 5 of seed 0 is orientation 6 with two faces, one of them about 150 px
    truth = make.make_one(5, 0, faces, str(folder))
    assert truth["orientation"] == 6 and len(truth["faces"]) == 2
    return folder / truth["file"], truth


@pytest.fixture(scope="module")
def dlib_engine():
    return load_engine(EngineOptions(engine="dlib"))


def _faces(db, path, engine, reduced):
    with Catalog.open(db) as cat:
        embed(cat, [path], engine=engine, options=EmbedOptions(reduced_decode=reduced))
        [file] = cat.files.all()
        rows = sorted(face_rows(cat), key=lambda r: r["x1"])
    return (file.width, file.height), rows


def test_small_and_large_faces_found_in_original_pixels(tmp_path, photo, dlib_engine):
    path, truth = photo
    size, rows = _faces(tmp_path / "r.db", path, dlib_engine, reduced=True)
    assert size == (truth["width"], truth["height"])
    assert len(rows) == len(truth["faces"])
    for box in truth["faces"]:  # every generated face has one detection centred inside its box
        centres = [((r["x1"] + r["x2"]) / 2, (r["y1"] + r["y2"]) / 2) for r in rows]
        assert any(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in centres)
    assert min(r["x2"] - r["x1"] for r in rows) < 200  # found although HOG alone at 1000 px could not


def test_reduced_decode_embeds_like_full_resolution(tmp_path, photo, dlib_engine):
    path, _ = photo
    _, reduced = _faces(tmp_path / "r.db", path, dlib_engine, reduced=True)
    _, full = _faces(tmp_path / "f.db", path, dlib_engine, reduced=False)
    assert len(reduced) == len(full)
    for a, b in zip(reduced, full):
        assert abs(a["x1"] - b["x1"]) < 0.1 * (b["x2"] - b["x1"])
        cosine = float(np.dot(a["embedding"], b["embedding"]))
        assert cosine > 0.98
