"""ArcFace alignment and the crops InsightFace's landmark models take, in numpy + OpenCV.

The same arithmetic as the `insightface` package (`utils.face_align`), whose similarity
transform comes from scikit-image: `similarity` is that Umeyama estimate step for step, so
the warps, and with them the chips, are the package's own (tests/test_insightface_equal.py).
"""
from __future__ import annotations

import cv2
import numpy as np

# Where ArcFace recognisers expect the 5 landmarks of a 112 px chip (eyes, nose, mouth corners).
ARCFACE_DST = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 least-squares similarity (rotation, uniform scale, translation) taking `src`
    points to `dst` (Umeyama 1991), computed in the inputs' precision as scikit-image's
    `SimilarityTransform.estimate` does; NaN where the points are degenerate."""
    src, dst = np.asarray(src), np.asarray(dst)
    num, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_demean, dst_demean = src - src_mean, dst - dst_mean
    a = dst_demean.T @ src_demean / num
    d = np.ones((dim,), dtype=np.float64)
    if np.linalg.det(a) < 0:
        d[dim - 1] = -1
    t = np.eye(dim + 1, dtype=np.float64)
    u, s, v = np.linalg.svd(a)
    rank = np.count_nonzero(s > s.max() * np.max(a.shape) * np.finfo(float).eps)
    if rank == 0:
        return np.nan * t
    if rank == dim - 1 and np.linalg.det(u) * np.linalg.det(v) <= 0:
        flipped = d.copy()
        flipped[dim - 1] = -1
        t[:dim, :dim] = u @ np.diag(flipped) @ v
    elif rank == dim - 1:
        t[:dim, :dim] = u @ v
    else:
        t[:dim, :dim] = u @ np.diag(d) @ v
    scale = 1.0 / src_demean.var(axis=0).sum() * (s @ d)
    t[:dim, dim] = dst_mean - scale * (t[:dim, :dim] @ src_mean.T)
    t[:dim, :dim] *= scale
    return t


def estimate_norm(landmarks: np.ndarray, image_size: int = 112) -> np.ndarray:
    """2x3 affine taking 5 ArcFace landmarks to their place in an `image_size` chip."""
    landmarks = np.asarray(landmarks)
    assert landmarks.shape == (5, 2)
    assert image_size % 112 == 0 or image_size % 128 == 0
    if image_size % 112 == 0:
        ratio, diff_x = float(image_size) / 112.0, 0.0
    else:
        ratio = float(image_size) / 128.0
        diff_x = 8.0 * ratio
    dst = ARCFACE_DST * ratio
    dst[:, 0] += diff_x
    return similarity(landmarks, dst)[0:2, :]


def norm_crop(image: np.ndarray, landmarks: np.ndarray, image_size: int = 112) -> np.ndarray:
    """The aligned `image_size` chip of a face (any channel order: the warp keeps it)."""
    warp = estimate_norm(landmarks, image_size)
    return cv2.warpAffine(image, warp, (image_size, image_size), borderValue=0.0)


def centred_crop(image: np.ndarray, centre, output_size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(crop, 2x3 affine): `image` scaled by `scale` about `centre`, which lands in the middle
    of an `output_size` square; the transform composed as the package composes it."""
    cx, cy = centre[0] * scale, centre[1] * scale
    zoom = np.diag([scale, scale, 1.0])
    to_origin = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    rotate = np.array([[np.cos(0.0), -np.sin(0.0), 0.0], [np.sin(0.0), np.cos(0.0), 0.0], [0.0, 0.0, 1.0]])
    to_centre = np.array([[1.0, 0.0, output_size / 2], [0.0, 1.0, output_size / 2], [0.0, 0.0, 1.0]])
    warp = (to_centre @ (rotate @ (to_origin @ zoom)))[0:2]
    return cv2.warpAffine(image, warp, (output_size, output_size), borderValue=0.0), warp


def transform_points(points: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """float32 points through a 2x3 affine; a third column (depth) is scaled by its zoom."""
    points = np.asarray(points, np.float32)
    out = np.zeros(points.shape, np.float32)
    homogeneous = np.hstack([points[:, :2], np.ones((len(points), 1), np.float32)])
    out[:, :2] = np.einsum("ij,nj->ni", warp, homogeneous)
    if points.shape[1] == 3:
        out[:, 2] = points[:, 2] * np.sqrt(warp[0][0] * warp[0][0] + warp[0][1] * warp[0][1])
    return out
