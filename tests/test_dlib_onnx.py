"""dlib's face-recognition ResNet run by ONNX Runtime (engines/dlib_onnx.py) gives dlib's own
descriptors: the same weights, read from the face_recognition_models file."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import FACES, PHOTOS
from facesets.media import read_image


def _chips(engine) -> list[np.ndarray]:
    """The 150x150 chips the dlib engine cuts from real photos: lfw heads and a group photo."""
    photos = [sorted(d.iterdir())[0] for d in sorted((FACES / "lfw158").iterdir())[:12]] + [PHOTOS / "t1.jpg"]
    chips = []
    for photo in photos:
        rgb = read_image(str(photo)).rgb
        chips += [engine.align(rgb, d) for d in engine.detect(rgb)]
    return chips


def test_onnx_descriptors_equal_dlibs_own():
    import dlib
    import onnx

    from facesets.engines import EngineOptions, load_engine
    from facesets.engines.dlib_onnx import OnnxDescriptor, build_model

    engine = load_engine(EngineOptions(engine="dlib"))
    weights = engine._frm.face_recognition_model_location()
    chips = _chips(engine)
    assert len(chips) >= 16
    dlibs = np.array([np.asarray(v) for v in dlib.face_recognition_model_v1(weights).compute_face_descriptor(chips)])
    ours = OnnxDescriptor(weights, threads=1)(chips)
    onnx.checker.check_model(onnx.load_from_string(build_model(weights)))
    cosine = np.sum(dlibs * ours, axis=1) / np.linalg.norm(dlibs, axis=1) / np.linalg.norm(ours, axis=1)
    assert cosine.min() > 0.99999, cosine.min()
    assert np.abs(dlibs - ours).max() < 1e-5
    # the engine's embeddings are these descriptors, normalised
    normalised = dlibs / np.linalg.norm(dlibs, axis=1, keepdims=True)
    assert np.abs(engine.embed_chips(chips) - normalised).max() < 1e-5


def test_a_file_that_is_not_the_resnet_is_refused(tmp_path):
    from facesets.engines.dlib_onnx import DlibFormatError, read_layers

    other = tmp_path / "other.dat"
    other.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DlibFormatError):
        read_layers(other)


def test_an_unknown_weights_file_falls_back_to_dlibs_own_network(monkeypatch):
    import dlib

    from facesets.engines import EngineOptions, dlib_onnx, load_engine

    def refuse(path, threads=None):
        raise dlib_onnx.DlibFormatError(f"{path}: not the network this reader knows")

    monkeypatch.setattr(dlib_onnx, "OnnxDescriptor", refuse)
    engine = load_engine(EngineOptions(engine="dlib"))
    chips = _chips(engine)[:3]
    weights = engine._frm.face_recognition_model_location()
    dlibs = np.array([np.asarray(v) for v in dlib.face_recognition_model_v1(weights).compute_face_descriptor(chips)])
    assert np.abs(engine.embed_chips(chips) - dlibs / np.linalg.norm(dlibs, axis=1, keepdims=True)).max() < 1e-6
