"""Head pose from 2D landmarks: solvePnP against one generic 3D face.

The 3D model is InsightFace's mean 68-point shape (iBUG order, the same points dlib's
68-point predictor finds; `meanshape_68.txt` says where it comes from), so both engines report
pitch/yaw/roll in one convention: InsightFace's `matrix2angle`, in degrees. Mirroring a face
flips the sign of yaw and roll.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np

# iBUG-68 indices of the 5-point schemes, for the fallback when only those are known.
DLIB5_IN_68 = (45, 42, 36, 39, 33)          # eye corners (two per eye), nose base
LEFT_EYE_68, RIGHT_EYE_68 = tuple(range(36, 42)), tuple(range(42, 48))
NOSE_TIP_68, MOUTH_CORNERS_68 = 30, (48, 54)
MODEL_SCALE = 100.0                          # model units per mean-shape unit (arbitrary)
_FLIP_Z = np.diag([1.0, 1.0, -1.0])
MEAN_SHAPE_FILE = Path(__file__).with_name("meanshape_68.txt")


@functools.lru_cache(maxsize=1)
def mean_shape_68() -> np.ndarray:
    """(68, 3) float64 (float32 values), image-like axes (x right, y down, z towards the viewer)."""
    return np.loadtxt(MEAN_SHAPE_FILE, dtype=np.float32).astype(np.float64)


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
    rarely trustworthy after crops), with its axis through the face: the pose is the head's
    turn relative to the line of sight, i.e. how the face looks, wherever it sits in the
    frame. The solve starts from a frontal face at the distance its width implies, which
    keeps it out of the mirrored local minimum.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    model = model_points(scheme)
    if len(pts) != len(model) or not np.all(np.isfinite(pts)):
        return None
    focal = float(max(*image_size, 1))
    centre = pts.mean(0)
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], np.float64)
    obj = (model @ _FLIP_Z) * MODEL_SCALE     # camera axes: z away from the viewer
    span_img = float(np.ptp(pts[:, 0])) or 1.0
    span_obj = float(np.ptp(obj[:, 0])) or 1.0
    tvec = np.array([0.0, 0.0, focal * span_obj / span_img]).reshape(3, 1)
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
    """InsightFace's Euler decomposition (pitch, yaw, roll) of a rotation matrix, degrees."""
    r = np.asarray(rotation, np.float64)
    sy = math.sqrt(r[0, 0] * r[0, 0] + r[1, 0] * r[1, 0])
    if sy >= 1e-6:
        x, y, z = math.atan2(r[2, 1], r[2, 2]), math.atan2(-r[2, 0], sy), math.atan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: roll is folded into pitch
        x, y, z = math.atan2(-r[1, 2], r[1, 1]), math.atan2(-r[2, 0], sy), 0.0
    return float(x * 180 / np.pi), float(y * 180 / np.pi), float(z * 180 / np.pi)


# Five-point fallback (faces enrich has not seen): yaw from the nose's sideways offset between
# the eyes, pitch from its drop below them, both per eye distance after removing roll. The
# gains and origins are a least-squares fit to the 68-point solvePnP pose of the same faces
# (lfw158, dlib engine; arcface5 from the 68 points' eye centres, nose tip, mouth corners).
# 2658 faces: yaw rmse 6.0 deg (dlib5) / 4.8 (arcface5), pitch rmse 5.8 / 5.0 (spread +-12).
FIVE_POINT_FIT = {  # scheme: (yaw gain, pitch gain in degrees per unit drop, drop of a level face)
    "dlib5": (0.79, -50.7, 0.758),
    "arcface5": (0.61, -45.2, 0.543),
}


def five_point_features(five: np.ndarray, scheme: str) -> tuple[float, float, float]:
    """(sideways nose offset, nose drop, roll in degrees), offsets per eye distance."""
    pts = np.asarray(five, np.float64).reshape(-1, 2)
    if scheme == "dlib5":
        a, b, nose = pts[0:2].mean(0), pts[2:4].mean(0), pts[4]
    else:
        a, b, nose = pts[0], pts[1], pts[2]
    if a[0] > b[0]:
        a, b = b, a
    span = b - a
    dist = float(np.hypot(*span))
    if dist <= 0:
        return 0.0, 0.0, 0.0
    roll = math.atan2(span[1], span[0])
    c, s = math.cos(-roll), math.sin(-roll)
    rel = nose - (a + b) / 2
    x, y = c * rel[0] - s * rel[1], s * rel[0] + c * rel[1]
    return x / dist, y / dist, math.degrees(roll)


def five_point_pose(five: np.ndarray, scheme: str) -> tuple[float, float] | None:
    """Approximate (pitch, yaw) in degrees from 5 landmarks; None for an unknown scheme."""
    if scheme not in FIVE_POINT_FIT or five is None or len(five) != 5:
        return None
    yaw_gain, pitch_gain, drop0 = FIVE_POINT_FIT[scheme]
    side, drop, _ = five_point_features(five, scheme)
    yaw = yaw_gain * math.degrees(math.atan(2.0 * side))
    # a turned face shows its eyes closer together: undo that before reading the drop
    pitch = pitch_gain * (drop * math.cos(math.radians(yaw)) - drop0)
    return float(pitch), float(yaw)


def pose_from_3d68(points3d: np.ndarray) -> tuple[float, float, float]:
    """Pose of InsightFace 1k3d68 output, exactly as its Landmark model computes it: the affine
    map from the mean shape to the points (least squares), its rotation part, Euler angles."""
    affine = affine_3d(mean_shape_68().astype(np.float32), np.asarray(points3d, np.float32))
    return matrix_to_angles(rotation_of(affine))


def affine_3d(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """3x4 least-squares affine P with target = P [source; 1] (InsightFace's
    estimate_affine_matrix_3d23d)."""
    homogeneous = np.hstack((source, np.ones([source.shape[0], 1])))
    return np.linalg.lstsq(homogeneous, target, rcond=None)[0].T


def rotation_of(affine: np.ndarray) -> np.ndarray:
    """The rotation of an affine camera matrix: its first two rows normalised and their cross
    product (InsightFace's P2sRt without the scale and translation it also returns)."""
    r1 = affine[0:1, :3] / np.linalg.norm(affine[0:1, :3])
    r2 = affine[1:2, :3] / np.linalg.norm(affine[1:2, :3])
    return np.concatenate((r1, r2, np.cross(r1, r2)), 0)
