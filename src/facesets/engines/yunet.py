"""OpenCV Zoo's YuNet face detector (5 landmarks), used by the dlib engine on request."""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from facesets.config import models_dirs, shared_dir
from facesets.engines.base import Detection, EngineUnavailable, sort_largest_first

YUNET_FILE = "face_detection_yunet_2023mar.onnx"


def find_yunet(explicit: str | Path | None = None) -> Path:
    candidates = [Path(explicit)] if explicit else []
    for folder in models_dirs():
        candidates += [folder / YUNET_FILE, folder / "yunet" / YUNET_FILE]
    candidates.append(shared_dir() / "models" / "yunet" / YUNET_FILE)
    for path in candidates:
        if path.is_file():
            return path
    raise EngineUnavailable(
        f"YuNet model {YUNET_FILE} not found: put it in $FACESETS_MODELS or pass --yunet-model"
    )


def _quiet_opencv() -> None:
    """OpenCV's DNN prints a harmless 'Targets are not supported' warning per net: keep stderr
    for our own one-line messages."""
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # pragma: no cover - older OpenCV builds
        pass


class YuNetDetector:
    def __init__(self, model: str | Path | None = None, score_threshold: float = 0.6,
                 threads: int | None = None):
        self.path = find_yunet(model)
        self.score_threshold = score_threshold
        self._local = threading.local()  # setInputSize + detect is stateful: one net per thread

    @property
    def _net(self):
        net = getattr(self._local, "net", None)
        if net is None:
            _quiet_opencv()
            net = self._local.net = cv2.FaceDetectorYN.create(
                str(self.path), "", (320, 320), self.score_threshold, 0.3, 5000)
        return net

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        self._net.setInputSize((width, height))
        _, faces = self._net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        out = []
        for row in faces if faces is not None else []:
            x, y, w, h = row[:4]
            box = np.array([x, y, x + w, y + h], np.float32)
            # YuNet order: right eye, left eye (subject's), nose, right mouth, left mouth.
            landmarks = row[4:14].reshape(5, 2).astype(np.float32)
            out.append(Detection(box, landmarks, float(row[14])))
        return sort_largest_first(out)
