"""Composite face quality: five components, each in [0, 1], stored beside their weighted sum.

Export ranks faces by `quality`; the components are kept so a manifest (and a user) can see
why one face beat another. Everything works from embed's 5-point landmarks alone; enrich's
pose and dense landmarks, when present, replace the 5-point estimates.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from facesets.catalog import Catalog
from facesets.catalog.faces import QualityInput
from facesets.enrich.pose import LEFT_EYE_68, MOUTH_CORNERS_68, NOSE_TIP_68, RIGHT_EYE_68, five_point_pose

# The one place the weights live (they sum to 1).
WEIGHTS = {"q_frontal": 0.30, "q_det": 0.20, "q_symmetry": 0.20, "q_size": 0.15, "q_sharp": 0.15}
COMPONENTS = tuple(WEIGHTS)

YAW_LIMIT = 60.0       # degrees of yaw (alone) at which frontality reaches 0
PITCH_LIMIT = 45.0     # degrees of pitch (alone) at which frontality reaches 0
SIZE_SATURATION = 250.0  # face box short edge (original px) that scores 1
SHARP_FLOOR, SHARP_SATURATION = 10.0, 1000.0  # Laplacian variance at 112 px scoring 0 and 1
NEUTRAL = 0.5          # a component that cannot be measured (aligned input: no landmarks)

# dlib's HOG scores are SVM margins (detections start at 0, good faces 1.5-3), not
# probabilities: a logistic centred at 1.0 with slope 0.5 maps them to [0, 1]
# (0 -> 0.12, 1 -> 0.5, 2 -> 0.88). SCRFD and YuNet give probabilities whose useful range
# starts at their 0.5 threshold: linear from 0.5 (-> 0) to 0.9 (-> 1).
HOG_CENTRE, HOG_SLOPE = 1.0, 0.5
PROB_FLOOR, PROB_SATURATION = 0.5, 0.9


def _clip(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def q_frontal(pitch: float | None, yaw: float | None) -> float:
    if pitch is None or yaw is None:
        return NEUTRAL
    return _clip(1.0 - math.hypot(yaw / YAW_LIMIT, pitch / PITCH_LIMIT))


def q_det(score: float, detector: str) -> float:
    if detector == "hog":
        return _clip(1.0 / (1.0 + math.exp(-(score - HOG_CENTRE) / HOG_SLOPE)))
    return _clip((score - PROB_FLOOR) / (PROB_SATURATION - PROB_FLOOR))


def q_size(short_edge: float) -> float:
    return _clip(short_edge / SIZE_SATURATION)


def q_sharp(laplacian_var: float | None) -> float:
    if laplacian_var is None or laplacian_var <= 0:
        return NEUTRAL if laplacian_var is None else 0.0
    return _clip(math.log(laplacian_var / SHARP_FLOOR) / math.log(SHARP_SATURATION / SHARP_FLOOR))


def symmetry_pairs(dense: np.ndarray | None, five: np.ndarray | None, scheme: str):
    """(nose point, [(left feature, right feature), ...]) from the best landmarks known."""
    if dense is not None and len(dense) == 68:
        return dense[NOSE_TIP_68], [(dense[list(LEFT_EYE_68)].mean(0), dense[list(RIGHT_EYE_68)].mean(0)),
                                    (dense[MOUTH_CORNERS_68[0]], dense[MOUTH_CORNERS_68[1]])]
    if five is None:
        return None, []
    if scheme == "dlib5":  # 0,1 and 2,3: one eye's corners each; 4: nose base
        return five[4], [(five[0:2].mean(0), five[2:4].mean(0))]
    return five[2], [(five[0], five[1]), (five[3], five[4])]  # arcface5


def q_symmetry(dense: np.ndarray | None, five: np.ndarray | None, scheme: str) -> float:
    """Mean min/max ratio of mirrored feature-to-nose distances (1: perfectly symmetric);
    ratios below 0.5 (a profile) score 0."""
    nose, pairs = symmetry_pairs(dense, five, scheme)
    if nose is None or not pairs:
        return NEUTRAL
    ratios = []
    for a, b in pairs:
        da, db = float(np.linalg.norm(a - nose)), float(np.linalg.norm(b - nose))
        ratios.append(min(da, db) / max(da, db) if max(da, db) > 0 else 0.0)
    return _clip((float(np.mean(ratios)) - 0.5) / 0.5)


def composite(components: dict) -> float:
    return float(sum(WEIGHTS[k] * components[k] for k in COMPONENTS))


def face_quality(face: QualityInput) -> dict:
    """The five components and `quality` of one face."""
    scheme, dense, five = face.landmark_scheme, face.landmarks_dense, face.landmarks
    pitch, yaw = face.pitch, face.yaw
    if (pitch is None or yaw is None) and five is not None:
        pitch, yaw = five_point_pose(five, scheme) or (None, None)
    comps = {
        "q_frontal": q_frontal(pitch, yaw),
        "q_det": q_det(float(face.det_score), face.detector),
        "q_symmetry": q_symmetry(dense, five, scheme),
        "q_size": q_size(float(face.short_edge)),
        "q_sharp": q_sharp(face.sharpness),
    }
    comps["quality"] = composite(comps)
    return comps


def score_rows(catalog: Catalog, face_ids: Iterable[int] | None = None) -> int:
    """Compute and store quality (inside the caller's transaction, if any); returns faces scored."""
    scores = [(face.id, face_quality(face)) for face in catalog.faces.quality_inputs(face_ids)]
    catalog.faces.set_quality(scores)
    return len(scores)


def score_faces(catalog: Catalog, face_ids: Iterable[int] | None = None, missing_only: bool = False,
                chunk: int = 2000) -> int:
    """Compute and store the quality of `face_ids` (default: every face; with `missing_only`
    only those without one yet), in short transactions. Returns faces scored."""
    if face_ids is None:
        face_ids = catalog.faces.ids(unscored_only=missing_only)
    elif missing_only:
        ids = set(int(i) for i in face_ids)
        face_ids = [f for f in catalog.faces.ids(unscored_only=True) if f in ids]
    ids = list(face_ids)
    done = 0
    for start in range(0, len(ids), chunk):
        with catalog.transaction():
            done += score_rows(catalog, ids[start:start + chunk])
    return done
