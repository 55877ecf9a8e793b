"""Head pose from 2D landmarks: solvePnP against one generic 3D face.

The 3D model is InsightFace's mean 68-point shape (iBUG order, the same points dlib's
68-point predictor finds), so both engines report pitch/yaw/roll in one convention:
InsightFace's own `matrix2angle`, in degrees. Mirroring a face flips the sign of yaw and roll.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

# iBUG-68 indices of the 5-point schemes, for the fallback when only those are known.
DLIB5_IN_68 = (45, 42, 36, 39, 33)          # eye corners (two per eye), nose base
LEFT_EYE_68, RIGHT_EYE_68 = tuple(range(36, 42)), tuple(range(42, 48))
NOSE_TIP_68, MOUTH_CORNERS_68 = 30, (48, 54)
MODEL_SCALE = 100.0                          # model units per mean-shape unit (arbitrary)
_FLIP_Z = np.diag([1.0, 1.0, -1.0])


@functools.lru_cache(maxsize=1)
def mean_shape_68() -> np.ndarray:
    """(68, 3) float64, image-like axes (x right, y down, z towards the viewer)."""
    from insightface.data import get_object

    return np.asarray(get_object("meanshape_68.pkl"), np.float64)


def model_points(scheme: str) -> np.ndarray:
    """The 3D model points matching a landmark scheme ('ibug68', 'dlib5', 'arcface5')."""
    shape = mean_shape_68()
    if scheme == "ibug68":
        return shape
    if scheme == "dlib5":
        return shape[list(DLIB5_IN_68)]
    if scheme == "arcface5":
        return np.stack([shape[list(LEFT_EYE_68)].mean(0), shape[list(RIGHT_EYE_68)].mean(0),
                         shape[NOSE_TIP_68], shape[MOUTH_CORNERS_68[0]], shape[MOUTH_CORNERS_68[1]]])
    raise ValueError(f"no 3D model for landmark scheme {scheme!r}")


def solve_pose(points: np.ndarray, scheme: str, image_size: tuple[int, int]) -> tuple[float, float, float] | None:
    """(pitch, yaw, roll) in degrees of 2D `points` (original pixels) in an image of
    `image_size` (width, height), or None when the solver fails.

    A pinhole camera with focal length = the long side is assumed (EXIF focal lengths are
    rarely trustworthy after crops); the solve starts from a frontal face at the distance
    its width implies, which keeps it out of the mirrored local minimum on few points.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    model = model_points(scheme)
    if len(pts) != len(model) or not np.all(np.isfinite(pts)):
        return None
    width, height = (float(v) for v in image_size)
    focal = max(width, height, 1.0)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    obj = (model @ _FLIP_Z) * MODEL_SCALE     # camera axes: z away from the viewer
    span_img = float(np.ptp(pts[:, 0])) or 1.0
    span_obj = float(np.ptp(obj[:, 0])) or 1.0
    depth = focal * span_obj / span_img
    centre = pts.mean(0)
    tvec = np.array([(centre[0] - width / 2) * depth / focal, (centre[1] - height / 2) * depth / focal,
                     depth], np.float64).reshape(3, 1)
    rvec = np.zeros((3, 1), np.float64)
    try:
        ok, rvec, tvec = cv2.solvePnP(obj, pts, camera, None, rvec, tvec, useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
    except cv2.error:
        return None
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    return matrix_to_angles(_FLIP_Z @ rotation @ _FLIP_Z)


def matrix_to_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """InsightFace's Euler decomposition (pitch, yaw, roll), degrees."""
    from insightface.utils.transform import matrix2angle

    pitch, yaw, roll = matrix2angle(np.asarray(rotation, np.float64))
    return float(pitch), float(yaw), float(roll)


def pose_from_3d68(points3d: np.ndarray) -> tuple[float, float, float]:
    """Pose of InsightFace 1k3d68 output, exactly as its Landmark model computes it."""
    from insightface.utils.transform import P2sRt, estimate_affine_matrix_3d23d

    P = estimate_affine_matrix_3d23d(mean_shape_68().astype(np.float32), np.asarray(points3d, np.float32))
    _, rotation, _ = P2sRt(P)
    return matrix_to_angles(rotation)
