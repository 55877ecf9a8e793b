"""Small stand-in models for tests and benchmarks, built on the fly with random weights.

The real InsightFace recognisers cannot be fetched on our machines; these have the same
input and output signature, so the real loading, routing and batching code runs on them.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from facesets.config import shared_dir


def build_random_recogniser(path: str | Path, size: int = 112, dim: int = 512, seed: int = 0) -> Path:
    """An ArcFace-shaped ONNX (N x 3 x size x size -> N x dim) with random weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    channels, stride = 16, 8
    cells = channels * (size // stride) ** 2
    conv_w = rng.normal(0, 0.05, (channels, 3, stride, stride)).astype(np.float32)
    fc_w = rng.normal(0, 1 / np.sqrt(cells), (cells, dim)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input.1", "conv_w"], ["c1"], strides=[stride, stride], kernel_shape=[stride, stride]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Flatten", ["r1"], ["f1"], axis=1),
        helper.make_node("MatMul", ["f1", "fc_w"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes, "random_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, size, size])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", dim])],
        [numpy_helper.from_array(conv_w, "conv_w"), numpy_helper.from_array(fc_w, "fc_w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_test_pack(models_dir: str | Path, pack: str = "buffalo_l", seed: int = 0) -> Path:
    """A pack folder with the shared real SCRFD detector and a random recogniser,
    under the file names the pack expects."""
    from facesets.engines.packs import get_pack

    spec = get_pack(pack)
    folder = Path(models_dir) / pack
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_dir() / "models" / "insightface" / "det_500m.onnx", folder / spec.detector)
    build_random_recogniser(folder / spec.recogniser, seed=seed)
    return folder
