"""Enrich: dense landmarks, head pose and composite quality on real lfw158 photos (dlib engine)."""
from __future__ import annotations

import shutil
import sqlite3
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import FACES, face_rows, notices_of_facesets, run_cli
from facesets.catalog import Catalog, CatalogBusy
from facesets.enrich import COMPONENTS, WEIGHTS, enrich, score_faces

LFW = FACES / "lfw158"
PEOPLE = ("Bill_McBride", "Ian_Thorpe")     # become people: enriched
BYSTANDER = "Jacques_Rogge"                  # faces of nobody: left alone by default
TURNED = "Ian_Thorpe_0001"                   # head turned clearly to one side
FRONTAL = "Bill_McBride_0004"                # looking straight at the camera


@pytest.fixture(scope="module")
def base_catalog(tmp_path_factory):
    """Two people (plus a mirrored copy of a turned face in one of them) and a bystander."""
    root = tmp_path_factory.mktemp("enrich")
    photos = root / "photos"
    for name in (*PEOPLE, BYSTANDER):
        shutil.copytree(LFW / name, photos / name)
    with Image.open(LFW / "Ian_Thorpe" / f"{TURNED}.jpg") as im:
        ImageOps.mirror(im.convert("RGB")).save(photos / "Ian_Thorpe" / f"{TURNED}_mirrored.png")
    db = root / "catalog.db"
    run_cli("embed", photos, "--catalog", db, "--engine", "dlib", "--quiet")
    with Catalog.open(db) as cat, cat.transaction():
        faces = cat.faces.all()
        for name in PEOPLE:
            pid = cat.people.create(name=name)
            ids = [f.id for f in faces if f"/{name}/" in f.path and f.face_index == 0]
            cat.people.assign(ids, pid, by="user")
    return db


@pytest.fixture
def catalog_path(base_catalog, tmp_path):
    dst = tmp_path / "catalog.db"
    shutil.copyfile(base_catalog, dst)
    return dst


def _faces(db) -> dict[str, dict]:
    """Faces by photo stem (largest face of each photo)."""
    with Catalog.open(db, readonly=True) as catalog:
        rows = [r for r in face_rows(catalog) if r["face_index"] == 0]
    return {r["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0]: r for r in rows}


def test_enrich_landmarks_pose_quality_and_rerun(catalog_path):
    proc = run_cli("enrich", "--catalog", catalog_path, "-q")
    assert "enriched" in proc.stdout
    faces = _faces(catalog_path)
    people = {k: r for k, r in faces.items() if r["person_id"] is not None}
    assert len(people) >= 19
    for stem, r in faces.items():
        if r["person_id"] is None:
            assert r["enriched_run"] is None and r["landmarks_dense"] is None, stem  # not a person's face
            continue
        assert r["enriched_run"] is not None, stem
        pts = r["landmarks_dense"]
        assert pts.shape == (68, 2)
        w, h = r["x2"] - r["x1"], r["y2"] - r["y1"]
        # dlib's 68 points hug the HOG box: all within a 25% margin, their centre inside the box
        assert np.all(pts[:, 0] > r["x1"] - 0.25 * w) and np.all(pts[:, 0] < r["x2"] + 0.25 * w), stem
        assert np.all(pts[:, 1] > r["y1"] - 0.25 * h) and np.all(pts[:, 1] < r["y2"] + 0.25 * h), stem
        cx, cy = pts.mean(0)
        assert r["x1"] < cx < r["x2"] and r["y1"] < cy < r["y2"], stem
        # points spread over most of the box (not collapsed to a corner)
        assert np.ptp(pts[:, 0]) > 0.6 * w and np.ptp(pts[:, 1]) > 0.6 * h, stem
        for key in (*COMPONENTS, "quality"):
            assert 0.0 <= r[key] <= 1.0, (stem, key, r[key])
        assert r["quality"] == pytest.approx(sum(WEIGHTS[k] * r[k] for k in COMPONENTS), abs=1e-9)
        assert all(r[k] is not None for k in ("pitch", "yaw", "roll"))

    # pose: a frontal face has small yaw, a turned one a large yaw, its mirror image the opposite yaw
    frontal, turned, mirrored = faces[FRONTAL], faces[TURNED], faces[f"{TURNED}_mirrored"]
    assert abs(frontal["yaw"]) < 8, frontal["yaw"]
    assert abs(turned["yaw"]) > 15, turned["yaw"]
    assert np.sign(mirrored["yaw"]) == -np.sign(turned["yaw"])
    assert abs(mirrored["yaw"] + turned["yaw"]) < 0.3 * abs(turned["yaw"]), (turned["yaw"], mirrored["yaw"])
    assert abs(mirrored["pitch"] - turned["pitch"]) < 5
    assert abs(mirrored["roll"] + turned["roll"]) < 5
    assert frontal["q_frontal"] > turned["q_frontal"] + 0.2
    assert frontal["q_symmetry"] > turned["q_symmetry"]
    assert frontal["quality"] > turned["quality"]

    # resumable: a second run finds nothing new and changes nothing
    with Catalog.open(catalog_path) as cat:
        stats = enrich(cat)
        runs = [r.status for r in cat.runs.all("enrich")]
    assert stats["todo"] == 0 and stats["enriched"] == 0
    assert runs == ["done", "done"]
    again = _faces(catalog_path)
    assert all(again[k]["yaw"] == faces[k]["yaw"] and again[k]["enriched_run"] == faces[k]["enriched_run"]
               for k in faces)


def test_interrupted_enrich_resumes(catalog_path):
    calls = []

    def interrupt_after_first_batch(phase, advance, total):
        if phase == "enrich" and advance:
            calls.append(advance)
            if len(calls) == 2:
                raise KeyboardInterrupt

    with Catalog.open(catalog_path) as cat:
        total = sum(1 for f in cat.faces.all() if f.person_id is not None)
        first = enrich(cat, progress=interrupt_after_first_batch, batch=4)
        assert first["interrupted"]
        # the batch in flight when interrupted had committed; nothing past it
        done = sum(1 for f in cat.faces.all() if f.enriched_run is not None)
        assert done == first["enriched"] == sum(calls) and 0 < done < total
        assert cat.runs.last("enrich").status == "interrupted"
        cat.acquire_writer_lock("run")   # a caller holding the lock (facesets run) keeps it
        second = enrich(cat, batch=4)
        assert not second["interrupted"]
        with Catalog.open(catalog_path) as other, pytest.raises(CatalogBusy):
            other.acquire_writer_lock("another writer")
        assert second["enriched"] == total - done
        people_faces = [f for f in cat.faces.all() if f.person_id is not None]
        runs = Counter(f.enriched_run for f in people_faces)
        assert runs == {first["run_id"]: done, second["run_id"]: total - done}
        assert not [f for f in people_faces if f.quality is None or f.landmarks_dense is None]


def test_all_faces_and_missing_catalog(catalog_path, tmp_path):
    run_cli("enrich", "--catalog", catalog_path, "--all-faces", "-q")
    faces = _faces(catalog_path)
    assert all(r["enriched_run"] is not None for r in faces.values())
    proc = run_cli("enrich", "--catalog", tmp_path / "nope.db", check=False)
    assert proc.returncode == 2
    assert "no catalog" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nope.db").exists()


def test_score_faces_without_enrich(catalog_path):
    """Quality from embed's 5-point landmarks alone (pose solved on 5 points)."""
    with Catalog.open(catalog_path) as cat:
        n = score_faces(cat)
        assert n == len(cat.faces.all())
        assert score_faces(cat, missing_only=True) == 0
        with sqlite3.connect(catalog_path) as raw:   # two faces lose their score, as a hand edit would
            raw.execute("UPDATE faces SET quality = NULL WHERE id IN (SELECT id FROM faces LIMIT 2)")
        assert score_faces(cat, missing_only=True) == 2
    faces = _faces(catalog_path)
    for stem, r in faces.items():
        assert r["enriched_run"] is None and r["yaw"] is None
        for key in (*COMPONENTS, "quality"):
            assert 0.0 <= r[key] <= 1.0, (stem, key, r[key])
    frontal, turned, mirrored = faces[FRONTAL], faces[TURNED], faces[f"{TURNED}_mirrored"]
    assert frontal["q_frontal"] > turned["q_frontal"]
    assert frontal["q_symmetry"] > turned["q_symmetry"]
    assert mirrored["q_frontal"] == pytest.approx(turned["q_frontal"], abs=0.1)
    assert mirrored["q_size"] == pytest.approx(turned["q_size"], abs=0.05)


# -- InsightFace engine: the pack's landmark models, or dlib's when the pack lacks them ---------

def _constant_landmark_model(path, outputs: int, bias) -> None:
    """A 192x192-input ONNX landmark model whose output is always `bias` (zero weights):
    InsightFace routes it to its Landmark class like the real 2d106det / 1k3d68."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("GlobalAveragePool", ["data"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"], axis=1),
             helper.make_node("MatMul", ["f", "w"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["fc1"])]
    graph = helper.make_graph(
        nodes, "constant_landmarks",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 192, 192])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, outputs])],
        [numpy_helper.from_array(np.zeros((3, outputs), np.float32), "w"),
         numpy_helper.from_array(np.asarray(bias, np.float32).reshape(outputs), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def insightface_base(tmp_path_factory, test_models):
    """Bill and Ian embedded with the test pack (real SCRFD, random recogniser); Ian a person."""
    root = tmp_path_factory.mktemp("enrich-insightface")
    photos = root / "photos"
    for name in PEOPLE:
        shutil.copytree(LFW / name, photos / name)
    db = root / "catalog.db"
    run_cli("embed", photos, "--catalog", db, "--engine", "insightface", "--models", test_models, "--quiet")
    with Catalog.open(db) as cat, cat.transaction():
        pid = cat.people.create(name="Ian")
        cat.people.assign([f.id for f in cat.faces.all() if "/Ian_Thorpe/" in f.path], pid, by="user")
    return db


def _insightface_catalog(base, tmp_path):
    dst = tmp_path / "catalog.db"
    shutil.copyfile(base, dst)
    return dst


@pytest.fixture
def isolated_models(monkeypatch, tmp_path):
    """Only the models folder a test passes is searched (no ~/.insightface, no $FACESETS_MODELS)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACESETS_MODELS", raising=False)


def test_insightface_pack_landmark_models(tmp_path, test_models, insightface_base, isolated_models):
    from facesets.engines.packs import get_pack
    from facesets.enrich.pose import mean_shape_68

    models = tmp_path / "models"
    shutil.copytree(test_models, models)
    pack = get_pack("buffalo_l")
    # 2d106det: 106 points spread like a face; 1k3d68: exactly the mean shape, i.e. a frontal head
    spread = np.stack([np.linspace(-0.6, 0.6, 106), np.tile([-0.5, 0.5], 53)], 1)
    _constant_landmark_model(models / "buffalo_l" / pack.landmarks_2d, 212, spread.reshape(-1))
    shape = mean_shape_68()
    _constant_landmark_model(models / "buffalo_l" / pack.landmarks_3d, 3309,
                             np.concatenate([np.zeros((1103 - 68) * 3), shape.reshape(-1)]))
    db = _insightface_catalog(insightface_base, tmp_path)
    with Catalog.open(db) as cat, notices_of_facesets() as notices:
        stats = enrich(cat, models=str(models))
    assert not notices and stats["landmarker"].startswith("insightface/buffalo_l/")
    faces = [r for r in _faces(db).values() if r["person_id"] is not None]
    assert stats["enriched"] == len(faces) >= 8
    for r in faces:
        pts = r["landmarks_dense"]
        assert pts.shape == (106, 2)
        assert r["x1"] < pts[:, 0].mean() < r["x2"] and r["y1"] < pts[:, 1].mean() < r["y2"]
        assert abs(r["pitch"]) < 1 and abs(r["yaw"]) < 1 and abs(r["roll"]) < 1   # the 3d68 pose, not dlib's
        assert r["q_frontal"] > 0.97
        for key in (*COMPONENTS, "quality"):
            assert 0.0 <= r[key] <= 1.0


def test_insightface_without_landmark_models_falls_back_to_dlib(tmp_path, test_models, insightface_base,
                                                              isolated_models):
    db = _insightface_catalog(insightface_base, tmp_path)
    with Catalog.open(db) as cat, notices_of_facesets() as notices:
        stats = enrich(cat, models=str(test_models))
    assert len(notices) == 1 and "dlib" in notices[0] and "2d106det" in notices[0]
    assert stats["landmarker"].startswith("dlib/")
    faces = [r for r in _faces(db).values() if r["person_id"] is not None]
    assert faces and all(r["landmarks_dense"].shape == (68, 2) for r in faces)
    # SCRFD scores are probabilities: mapped linearly from its 0.5 threshold
    assert all(0.0 <= r["q_det"] <= 1.0 for r in faces)
    assert any(r["q_det"] > 0.5 for r in faces)


def test_big_exif_rotated_photo(tmp_path):
    """A 12 MP JPEG stored sideways (EXIF orientation 6) is decoded reduced and upright:
    its landmarks and pose match those of the same picture stored upright."""
    rng = np.random.default_rng(0)
    canvas = Image.fromarray(rng.integers(90, 166, (3000, 4000, 3), dtype=np.uint8))
    with Image.open(LFW / "Bill_McBride" / f"{FRONTAL}.jpg") as im:
        canvas.paste(im.convert("RGB").resize((750, 750), Image.LANCZOS), (2600, 700))
    photos = tmp_path / "photos"
    photos.mkdir()
    canvas.save(photos / "upright.jpg", quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 degrees clockwise to display": store it turned the other way
    canvas.transpose(Image.Transpose.ROTATE_90).save(photos / "sideways.jpg", quality=92, exif=exif)
    db = tmp_path / "catalog.db"
    run_cli("embed", photos, "--catalog", db, "--engine", "dlib", "--quiet")
    run_cli("enrich", "--catalog", db, "--all-faces", "--quiet")
    faces = _faces(db)
    up, side = faces["upright"], faces["sideways"]
    for r in (up, side):
        pts = r["landmarks_dense"]
        assert pts.shape == (68, 2)
        assert 2600 < r["x1"] < pts[:, 0].mean() < r["x2"] < 3350 and 700 < r["y1"] < pts[:, 1].mean() < r["y2"] < 1450
        assert r["short_edge"] > 250   # big enough that enrich decoded it at half size
    a, b = (r["landmarks_dense"] for r in (up, side))
    assert np.abs(a - b).max() < 0.05 * up["short_edge"]
    assert abs(up["yaw"] - side["yaw"]) < 3 and abs(up["pitch"] - side["pitch"]) < 3
    assert abs(up["yaw"]) < 8
