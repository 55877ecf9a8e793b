"""InsightFace pack models on onnxruntime: which task a file is, and the recogniser and dense
landmark wrappers (the detector is `scrfd.SCRFD`).

Files are routed as the `insightface` package routes them (5 or more outputs: SCRFD; a 192 px
input: landmarks; a square input of 112 px or more: a recogniser), and inputs are normalised
by its rule. Every wrapper takes RGB uint8 arrays, the channel order of the rest of facesets;
the networks see exactly what the package feeds them from BGR (tests/test_insightface_equal.py).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facesets.engines.base import EngineUnavailable
from facesets.engines.face_align import centred_crop, transform_points
from facesets.engines.providers import choose_providers, session_options
from facesets.engines.scrfd import SCRFD

POSE_OUTPUTS = 3309  # 1k3d68: 68 x 3 points (the last of 1103 x 3 values) and a head pose


def open_session(path, device: str = "auto", threads: int | None = None):
    """An onnxruntime session on the chosen providers (see providers.py)."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), sess_options=session_options(threads),
                                    providers=choose_providers(device))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for bad files
        raise EngineUnavailable(f"{path}: not an ONNX model onnxruntime can load ({type(exc).__name__})") from None


def input_normalisation(path, default_std: float, bn_data: bool = False) -> tuple[float, float]:
    """(mean, std) of a model's input: (0, 1) when the graph normalises itself (MXNet exports
    begin with Sub and Mul nodes; for landmark models, `bn_data=True`, also a `bn_data` node
    among the first three), else (127.5, default_std)."""
    import onnx

    names = [node.name for node in onnx.load(str(path)).graph.node[:8]]
    has_sub = any(n.startswith(("Sub", "_minus")) for n in names)
    has_mul = any(n.startswith(("Mul", "_mul")) for n in names)
    if (has_sub and has_mul) or (bn_data and "bn_data" in names[:3]):
        return 0.0, 1.0
    return 127.5, default_std


class ArcFace:
    """A recogniser (w600k_r50, w600k_mbf, glintr100): aligned chips in, raw embeddings out."""

    taskname = "recognition"

    def __init__(self, session, path):
        self.session = session
        self.input_mean, self.input_std = input_normalisation(path, 127.5)
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_size = tuple(model_input.shape[2:4][::-1])
        self.output_names = [o.name for o in session.get_outputs()]
        self.output_shape = session.get_outputs()[0].shape

    def get_feat(self, chips) -> np.ndarray:
        """(n, dim) float32 of RGB chips of `input_size` (one array or a list)."""
        chips = chips if isinstance(chips, list) else [chips]
        blob = cv2.dnn.blobFromImages(chips, 1.0 / self.input_std, self.input_size,
                                      (self.input_mean,) * 3, swapRB=False)
        return self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(blob, np.float32)})[0]


class Landmark:
    """2d106det (106 points) or 1k3d68 (68 points with depth) on a crop around a face box."""

    def __init__(self, session, path):
        self.session = session
        self.input_mean, self.input_std = input_normalisation(path, 128.0, bn_data=True)
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_size = tuple(model_input.shape[2:4][::-1])
        self.output_names = [o.name for o in session.get_outputs()]
        outputs = session.get_outputs()[0].shape[1]
        self.dims, self.points = (3, 68) if outputs == POSE_OUTPUTS else (2, outputs // 2)
        self.taskname = f"landmark_{self.dims}d_{self.points}"

    def get(self, rgb: np.ndarray, box) -> np.ndarray:
        """(points, 2 or 3) float32 in `rgb`'s pixels for a face `box` (x1, y1, x2, y2)."""
        box = np.asarray(box, np.float32)
        width, height = box[2] - box[0], box[3] - box[1]
        centre = (box[2] + box[0]) / 2, (box[3] + box[1]) / 2
        side = self.input_size[0]
        crop, warp = centred_crop(rgb, centre, side, side / (max(width, height) * 1.5))
        blob = cv2.dnn.blobFromImage(crop, 1.0 / self.input_std, crop.shape[1::-1],
                                     (self.input_mean,) * 3, swapRB=False)
        pred = self.session.run(self.output_names, {self.input_name: blob})[0][0]
        pred = pred.reshape((-1, 3) if pred.shape[0] >= 3000 else (-1, 2))
        if self.points < pred.shape[0]:
            pred = pred[-self.points:, :]
        pred[:, 0:2] += 1
        pred[:, 0:2] *= side // 2
        if pred.shape[1] == 3:
            pred[:, 2] *= side // 2
        return transform_points(pred, cv2.invertAffineTransform(warp))


def load_onnx_model(path: str | Path, device: str = "auto", threads: int | None = None):
    """The wrapper of one pack file (SCRFD, ArcFace or Landmark), by the model's signature."""
    session = open_session(path, device, threads)
    shape = session.get_inputs()[0].shape
    if len(session.get_outputs()) >= 5:
        return SCRFD(session)
    if len(shape) == 4 and shape[2] == 192 and shape[3] == 192:
        return Landmark(session, path)
    if len(shape) == 4 and isinstance(shape[2], int) and shape[2] == shape[3] and shape[2] >= 112 \
            and shape[2] % 16 == 0:
        return ArcFace(session, path)
    raise EngineUnavailable(f"{path}: not a detector, recogniser or landmark model facesets can use")
