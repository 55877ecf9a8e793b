"""Both engines find the faces of the shared group photo; orientation is applied first."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facesets.catalog import Catalog
from facesets.catalog import CatalogError
from facesets.embed import EmbedOptions, embed  # not `from facesets import embed`: that is the subpackage
from facesets.engines import EngineOptions, load_engine
from facesets.media import read_image

from conftest import FACES, PHOTOS, bench_module, face_rows


@pytest.fixture(scope="module")
def dlib_engine():
    return load_engine(EngineOptions(engine="dlib"))


@pytest.fixture(scope="module")
def insight_engine(test_models):
    return load_engine(EngineOptions(engine="insightface", models=str(test_models), download=False))


def _faces(tmp_path, engine, *names):
    with Catalog.open(tmp_path / "c.db") as cat:
        embed(cat, [PHOTOS / n for n in names], engine=engine)
        return face_rows(cat), cat.embedding_model()


@pytest.mark.parametrize("which", ["dlib", "insightface"])
def test_group_photo_has_six_faces(tmp_path, request, which):
    engine = request.getfixturevalue(f"{'dlib' if which == 'dlib' else 'insight'}_engine")
    rows, model = _faces(tmp_path, engine, "t1.jpg")
    assert len(rows) == 6
    assert model.engine == which
    for row in rows:
        vector = row["embedding"]
        assert vector.shape == (model.dim,)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
        assert 0 <= row["x1"] < row["x2"] <= row["width"] and 0 <= row["y1"] < row["y2"] <= row["height"]
        assert row["short_edge"] > 20 and row["sharpness"] > 0


@pytest.mark.parametrize("which", ["dlib", "insightface"])
def test_exif_orientation_is_applied_before_detection(tmp_path, request, which):
    engine = request.getfixturevalue(f"{'dlib' if which == 'dlib' else 'insight'}_engine")
    image = read_image(PHOTOS / "inspireface_image_T1.jpeg")
    from PIL import Image
    with Image.open(PHOTOS / "inspireface_image_T1.jpeg") as raw:
        assert raw.size == (image.height, image.width)  # stored sideways, decoded upright
    rows, model = _faces(tmp_path, engine, "inspireface_image_T1.jpeg")
    assert len(rows) >= 1
    pts = rows[0]["landmarks"]
    eyes_y = pts[:4, 1].mean() if model.landmark_scheme == "dlib5" else pts[:2, 1].mean()
    nose_y = pts[4, 1] if model.landmark_scheme == "dlib5" else pts[2, 1]
    assert eyes_y < nose_y  # an upright face: eyes above the nose
    assert abs(pts[0, 1] - pts[2 if model.landmark_scheme == "dlib5" else 1, 1]) < 0.3 * rows[0]["short_edge"]


def test_catalog_refuses_a_second_model(tmp_path, dlib_engine, insight_engine):
    with Catalog.open(tmp_path / "c.db") as cat:
        embed(cat, [PHOTOS / "Tom_Hanks_54745.png"], engine=dlib_engine)
        with pytest.raises(CatalogError, match="refusing"):
            embed(cat, [PHOTOS / "t1.jpg"], engine=insight_engine)
        assert cat.counts()["faces"] == 1


def test_insightface_embed_matches_insightface_own_loop(tmp_path, insight_engine, test_models):
    """Full-resolution decode, SCRFD's own resize, chips cut from the full image: `facesets embed`
    finds the faces and gives the embeddings of insightface's own loop (cv2.imread, SCRFD.detect,
    norm_crop, get_feat; here on facesets' copies of them, equal to the package's by
    test_insightface_equal.py) on 12 MP photos, upright, flipped (3) and turned (5, 6). The stored
    pixels are never turned: SCRFD's input is resized before turning (identical for flips, 1
    level apart on some pixels for quarter turns) and chips are warped from the stored pixels."""
    import cv2
    from facesets.engines.face_align import norm_crop

    make = bench_module("make_photos")
    src = tmp_path / "photos"
    src.mkdir()
    faces = [str(p) for p in make.face_files(FACES / "lfw158")]
    made = [make.make_one(index, 0, faces, str(src)) for index in (0, 2, 4, 5)]  # orientations 1, 3, 5, 6
    names = [m["file"] for m in made]
    with Catalog.open(tmp_path / "c.db", create=True) as cat:
        embed(cat, [src], engine=insight_engine)
        rows = face_rows(cat)
    det, rec = insight_engine._det, insight_engine._rec
    compared, worst = 0, {}
    for name in names:
        turned = Image.open(src / name).getexif().get(0x0112, 1) in (5, 6, 7, 8)
        rgb = cv2.cvtColor(cv2.imread(str(src / name)), cv2.COLOR_BGR2RGB)  # imread applies the EXIF orientation
        boxes, kpss = det.detect(rgb, input_size=(insight_engine.det_size,) * 2)
        keep = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= EmbedOptions().min_face
        boxes, kpss = boxes[keep], kpss[keep]
        ours = [r for r in rows if r["path"].endswith(name)]
        assert len(ours) == len(boxes)
        for box, kps in zip(boxes, kpss):
            row = min(ours, key=lambda r: abs(r["x1"] - box[0]) + abs(r["y1"] - box[1]))
            off = float(np.abs(np.subtract([row["x1"], row["y1"], row["x2"], row["y2"]], box[:4])).max())
            reference = np.asarray(rec.get_feat(norm_crop(rgb, kps, 112)), np.float32).ravel()
            cosine = float(np.dot(reference / np.linalg.norm(reference), row["embedding"]))
            worst[turned] = (max(off, worst.get(turned, (0, 1))[0]), min(cosine, worst.get(turned, (0, 1))[1]))
            compared += 1
    print("worst (box px, cosine), upright or flipped / turned:", worst)
    assert compared >= 4 and set(worst) == {False, True}
    assert worst[False][0] < 0.05 and worst[False][1] > 0.9999   # the same pixels: the same faces
    assert worst[True][0] < 1.0 and worst[True][1] > 0.999       # a DCT-reduced decode: 1-9 px, 0.93


def test_padded_recogniser_batches_give_the_same_embeddings(insight_engine):
    """On an accelerator the recogniser always gets `batch_size` chips (one cuDNN algorithm
    search, not one per batch size); the padding rows are cut off and change nothing."""
    rng = np.random.default_rng(3)
    chips = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(5)]
    plain = insight_engine.embed_chips(chips)
    seen = []
    get_feat = insight_engine._rec.get_feat
    insight_engine._rec.get_feat = lambda batch: seen.append(len(batch)) or get_feat(batch)
    insight_engine.pad_batches, insight_engine.batch_size = True, 4
    try:
        padded = insight_engine.embed_chips(chips)
    finally:
        insight_engine._rec.get_feat = get_feat
        insight_engine.pad_batches, insight_engine.batch_size = False, 32
    assert seen == [4, 4]
    assert padded.shape == plain.shape == (5, insight_engine.dim)
    assert np.allclose(padded, plain, atol=1e-5)
