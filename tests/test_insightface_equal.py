"""facesets' own SCRFD, ArcFace, landmark, alignment and pose code gives what the `insightface`
package gives: boxes, landmarks and scores on the shared photos (an EXIF-rotated one and the
crowd photo among them), norm_crop transforms and chips, embeddings and dense landmarks of
seeded random-weight models, Umeyama and Euler angles. The package's outputs were computed once
by tests/fixtures/make_insightface_reference.py and are kept in insightface_reference.npz: the
package itself is not installed."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from facesets.engines.face_align import estimate_norm, norm_crop, similarity
from facesets.engines.onnx_models import load_onnx_model
from facesets.enrich.pose import matrix_to_angles, mean_shape_68, pose_from_3d68
from facesets.media import read_image
from facesets.testing import build_random_landmarker, build_random_recogniser, build_test_pack

from conftest import PHOTOS

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = np.load(FIXTURES / "insightface_reference.npz")
MAKER = FIXTURES / "make_insightface_reference.py"


def _maker():
    spec = importlib.util.spec_from_file_location("make_insightface_reference", MAKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _maker()
PHOTO_PIXELS: dict[str, np.ndarray] = {}


def _sha256(array: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest().encode()


def _rgb(photo: str) -> np.ndarray:
    """The photo as facesets decodes it: the pixels the reference was computed on."""
    if photo not in PHOTO_PIXELS:
        rgb = read_image(PHOTOS / photo).rgb
        assert _sha256(rgb) == REFERENCE[MAKE.key("pixels_sha256", photo)], \
            f"{photo} decodes to other pixels than when the reference was made: rerun {MAKER.name}"
        PHOTO_PIXELS[photo] = rgb
    return PHOTO_PIXELS[photo]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The same seeded models the reference script built, loaded by facesets."""
    tmp = tmp_path_factory.mktemp("reference-models")
    pack = build_test_pack(tmp, "buffalo_l")
    return {
        "det": load_onnx_model(pack / "det_10g.onnx", "cpu"),
        "rec_tiny": load_onnx_model(pack / "w600k_r50.onnx", "cpu"),
        "rec_self_normalising": load_onnx_model(
            build_random_recogniser(tmp / "rec_sn.onnx", seed=1, self_normalising=True), "cpu"),
        "lmk_2d106": load_onnx_model(build_random_landmarker(tmp / "2d106.onnx", 106, 2, seed=0), "cpu"),
        "lmk_3d68": load_onnx_model(build_random_landmarker(tmp / "3d68.onnx", 68, 3, seed=1,
                                                            self_normalising=True), "cpu"),
    }


@pytest.mark.parametrize("photo,size,thresh", MAKE.DETECTIONS,
                         ids=[f"{p}-{MAKE.size_name(s)}-{t}" for p, s, t in MAKE.DETECTIONS])
def test_scrfd_boxes_landmarks_scores_equal_the_package(models, photo, size, thresh):
    det = models["det"]
    det.det_thresh = thresh
    try:
        boxes, kpss = det.detect(_rgb(photo), input_size=size)
    finally:
        det.det_thresh = 0.5
    want_boxes = REFERENCE[MAKE.key("dets", photo, MAKE.size_name(size), thresh)]
    want_kpss = REFERENCE[MAKE.key("kpss", photo, MAKE.size_name(size), thresh)]
    assert boxes.shape == want_boxes.shape and kpss.shape == want_kpss.shape
    if photo in ("ssh_t2.jpg", "worlds-largest-selfie.jpg") and size == (640, 640):
        assert len(boxes) >= 60  # the crowds: dozens of faces, every one in the package's order
    # the package's session is built for a fixed input size, ours takes any: float noise only
    assert np.abs(boxes[:, :4] - want_boxes[:, :4]).max(initial=0) < 0.01
    assert np.abs(boxes[:, 4] - want_boxes[:, 4]).max(initial=0) < 1e-4
    assert np.abs(kpss - want_kpss).max(initial=0) < 0.01


@pytest.mark.parametrize("photo", MAKE.PHOTOS)
def test_norm_crop_transforms_and_chips_equal_the_package(photo):
    """estimate_norm (Umeyama, numpy) equals scikit-image's to the last bit on the package's own
    landmarks, so the warped chips are byte for byte the package's norm_crop chips."""
    rgb = _rgb(photo)
    kpss = REFERENCE[MAKE.key("kpss", photo, "640x640", 0.5)]
    warps = REFERENCE[MAKE.key("warps", photo)]
    chips = REFERENCE[MAKE.key("chip_sha256", photo)]
    assert len(kpss) == len(warps) == len(chips)
    for kps, warp, chip in zip(kpss, warps, chips):
        assert np.array_equal(estimate_norm(kps, MAKE.CHIP_SIZE), warp)
        assert _sha256(norm_crop(rgb, kps, MAKE.CHIP_SIZE)) == chip


def _routed_like_the_package(model, name: str) -> None:
    """The same task and the same input normalisation as the package gave the file."""
    assert [model.input_mean, model.input_std] == list(REFERENCE[MAKE.key("normalisation", name)])
    assert model.taskname == str(REFERENCE[MAKE.key("taskname", name)])


@pytest.mark.parametrize("name", ["rec_tiny", "rec_self_normalising"])
def test_recogniser_embeddings_equal_the_package(models, name):
    rec = models[name]
    _routed_like_the_package(rec, name)
    for photo, count in MAKE.EMBEDDED.items():
        kpss = REFERENCE[MAKE.key("kpss", photo, "640x640", 0.5)][:count]
        chips = [norm_crop(_rgb(photo), kps, MAKE.CHIP_SIZE) for kps in kpss]
        got = rec.get_feat(chips)
        want = REFERENCE[MAKE.key("embeddings", name, photo)]
        assert got.shape == want.shape == (count, 512)
        assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()


@pytest.mark.parametrize("name", ["lmk_2d106", "lmk_3d68"])
def test_landmark_models_and_pose_equal_the_package(models, name):
    lmk = models[name]
    _routed_like_the_package(lmk, name)
    for photo, count in MAKE.EMBEDDED.items():
        boxes = REFERENCE[MAKE.key("dets", photo, "640x640", 0.5)][:count, :4]
        got = np.array([lmk.get(_rgb(photo), box) for box in boxes])
        want = REFERENCE[MAKE.key("landmarks", name, photo)]
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-3
        if lmk.taskname == "landmark_3d_68":
            poses = np.array([pose_from_3d68(points) for points in want])
            assert np.abs(poses - REFERENCE[MAKE.key("poses", name, photo)]).max() < 1e-3


def test_umeyama_equals_scikit_image():
    """Random points, a mirrored target (det < 0), collinear points (rank 1), one point (rank 0:
    NaN) and float64 input: every matrix scikit-image gave, bit for bit."""
    cases = sorted({int(k.split("|")[1]) for k in REFERENCE.files if k.startswith("umeyama_src")})
    assert len(cases) == 6
    for index in cases:
        got = similarity(REFERENCE[MAKE.key("umeyama_src", index)], REFERENCE[MAKE.key("umeyama_dst", index)])
        assert np.array_equal(got, REFERENCE[MAKE.key("umeyama_params", index)], equal_nan=True), index


def test_euler_angles_and_mean_shape_equal_the_package():
    for rotation, angles in zip(REFERENCE["rotations"], REFERENCE["rotation_angles"]):
        assert np.allclose(matrix_to_angles(rotation), angles, atol=1e-9)
    assert REFERENCE["rotation_angles"][-1][2] == 0.0  # the gimbal-lock branch was exercised
    assert _sha256(mean_shape_68().astype(np.float32)) == REFERENCE["meanshape_sha256"]


def test_the_package_is_not_needed():
    """Nothing above imported it, and the light install does not carry it."""
    import sys

    assert "insightface" not in sys.modules and "skimage" not in sys.modules
