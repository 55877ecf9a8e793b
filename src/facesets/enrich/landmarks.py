"""Dense landmark models: dlib's 68-point predictor, or an InsightFace pack's 2d106det + 1k3d68.

A landmarker takes an RGB array and a face box in that array's pixels and returns the dense
points in the same pixels, plus the head pose when the model gives one (1k3d68 does;
for dlib the caller solves it from the 68 points).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from facesets.engines.base import EngineUnavailable
from facesets.engines.dlib_engine import face_recognition_model
from facesets.enrich.pose import pose_from_3d68

log = logging.getLogger("facesets")

DLIB_68 = "shape_predictor_68_face_landmarks.dat"


class Dlib68:
    """dlib's 68-point shape predictor (iBUG 300-W points)."""

    name = "dlib/shape_predictor_68"
    scheme = "ibug68"

    def __init__(self):
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(face_recognition_model(DLIB_68)))

    def locate(self, rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, tuple | None]:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        rect = self._dlib.rectangle(x1, y1, max(x1 + 1, x2 - 1), max(y1 + 1, y2 - 1))
        shape = self._predictor(rgb, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], np.float32), None


class InsightFaceDense:
    """A pack's 2d106det (stored as the dense points) and 1k3d68 (head pose)."""

    scheme = "insightface106"

    def __init__(self, folder: Path, pack, device: str = "auto", threads: int | None = None):
        from facesets.engines.onnx_models import load_onnx_model

        self._lmk2d = load_onnx_model(folder / pack.landmarks_2d, device, threads)
        self._lmk3d = load_onnx_model(folder / pack.landmarks_3d, device, threads)
        if getattr(self._lmk2d, "taskname", "") != "landmark_2d_106" or \
                getattr(self._lmk3d, "taskname", "") != "landmark_3d_68":
            raise EngineUnavailable(f"{folder}: landmark files are not what their names say")
        self.name = f"insightface/{pack.name}/{pack.landmarks_2d}+{pack.landmarks_3d}"

    def locate(self, rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, tuple | None]:
        dense = self._lmk2d.get(rgb, box)[:, :2]
        return dense, pose_from_3d68(self._lmk3d.get(rgb, box))


def load_landmarker(engine: str, model: str, models: str | None = None, device: str = "auto",
                    threads: int | None = None):
    """The landmarker for a catalog's engine; dlib's when the pack's landmark models are absent."""
    if engine == "insightface":
        from facesets.engines.packs import PACKS, find_pack_dir

        pack = PACKS.get(model.split("/", 1)[0])
        folder = None
        if pack and pack.landmarks_2d and pack.landmarks_3d:
            folder = find_pack_dir(pack, models, needed=(pack.landmarks_2d, pack.landmarks_3d))
        if folder is not None:
            return InsightFaceDense(folder, pack, device, threads)
        log.warning(f"enrich: {model.split('/', 1)[0]} landmark models (2d106det, 1k3d68) not found; "
               "using dlib's 68-point predictor and solvePnP instead")
    return Dlib68()
