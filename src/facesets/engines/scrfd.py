"""SCRFD face detector (InsightFace's det_10g, det_500m, scrfd_*) on an onnxruntime session.

Pre- and post-processing are the `insightface` package's: the photo is resized into the top-left
of a square input keeping its aspect ratio, normalised as (RGB - 127.5) / 128, and each stride's
anchor-point distances decode to boxes and 5 landmarks, kept above `det_thresh` and merged by
NMS at IoU 0.4 (tests/test_insightface_equal.py compares every box, landmark and score).
"""
from __future__ import annotations

import cv2
import numpy as np

NMS_THRESH = 0.4
# outputs -> (feature levels, strides, anchors per point, landmarks too)
LAYOUTS = {6: (3, (8, 16, 32), 2, False), 9: (3, (8, 16, 32), 2, True),
           10: (5, (8, 16, 32, 64, 128), 1, False), 15: (5, (8, 16, 32, 64, 128), 1, True)}


def input_shape(height: int, width: int, input_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) a photo is resized to inside a (width, height) input (aspect kept)."""
    if float(height) / width > float(input_size[1]) / input_size[0]:
        return int(input_size[1] / (float(height) / width)), input_size[1]
    return input_size[0], int(input_size[0] * (float(height) / width))


class SCRFD:
    taskname = "detection"

    def __init__(self, session, det_thresh: float = 0.5, input_size: tuple[int, int] = (640, 640)):
        self.session = session
        self.det_thresh = det_thresh
        self.input_size = tuple(input_size)
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        height, width = model_input.shape[2:4]
        # a model exported for one input size only gets that size, whatever is asked
        self.fixed_size = (width, height) if isinstance(width, int) and isinstance(height, int) else None
        outputs = session.get_outputs()
        self.output_names = [o.name for o in outputs]
        if len(outputs) not in LAYOUTS:
            raise ValueError(f"not an SCRFD model: {len(outputs)} outputs")
        self.levels, self.strides, self.anchors, self.use_kps = LAYOUTS[len(outputs)]
        self.batched = len(outputs[0].shape) == 3
        self._centres: dict = {}

    def detect(self, rgb: np.ndarray, input_size: tuple[int, int] | None = None,
               det_thresh: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(n x 5 boxes + score, n x 5 x 2 landmarks) in `rgb`'s pixels, best score first."""
        input_size = self.fixed_size or tuple(input_size or self.input_size)
        new_width, new_height = input_shape(rgb.shape[0], rgb.shape[1], input_size)
        canvas = np.zeros((input_size[1], input_size[0], 3), dtype=np.uint8)
        canvas[:new_height, :new_width, :] = cv2.resize(rgb, (new_width, new_height))
        return self.detect_input(canvas, det_thresh, float(new_height) / rgb.shape[0])

    def detect_input(self, canvas: np.ndarray, det_thresh: float | None = None,
                     det_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """`detect` on an input that is already SCRFD's (sides multiples of 32), coordinates
        divided by `det_scale` before NMS, as the package does."""
        threshold = self.det_thresh if det_thresh is None else float(det_thresh)
        scores, boxes, kpss = self.forward(canvas, threshold)
        if scores.size == 0:
            return np.empty((0, 5), np.float32), np.empty((0, 5, 2), np.float32)
        order = np.argsort(-scores.ravel(), kind="stable")
        candidates = np.hstack((boxes / det_scale, scores)).astype(np.float32, copy=False)[order]
        kpss = (kpss / det_scale)[order]
        keep = nms(candidates, NMS_THRESH)
        return candidates[keep], kpss[keep].astype(np.float32, copy=False)

    def forward(self, canvas: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores n x 1, boxes n x 4, landmarks n x 5 x 2) above `threshold`, in `canvas` pixels."""
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128.0, canvas.shape[1::-1], (127.5, 127.5, 127.5),
                                     swapRB=False)  # RGB already
        outs = self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(blob, np.float32)})
        height, width = blob.shape[2], blob.shape[3]
        scores_all, boxes_all, kpss_all = [], [], []
        for index, stride in enumerate(self.strides):
            pick = (lambda k: outs[k][0]) if self.batched else (lambda k: outs[k])
            scores = pick(index)
            centres = self._anchor_centres(height // stride, width // stride, stride)
            keep = np.where(scores >= threshold)[0]
            scores_all.append(scores[keep])
            boxes_all.append(distance_to_box(centres, pick(index + self.levels) * stride)[keep])
            if self.use_kps:
                kps = distance_to_points(centres, pick(index + 2 * self.levels) * stride)
                kpss_all.append(kps.reshape((kps.shape[0], -1, 2))[keep])
        if not self.use_kps:
            raise ValueError("this SCRFD model gives no landmarks; facesets needs the *_kps variants")
        return np.vstack(scores_all), np.vstack(boxes_all), np.vstack(kpss_all)

    def _anchor_centres(self, rows: int, cols: int, stride: int) -> np.ndarray:
        key = (rows, cols, stride)
        if key not in self._centres:
            centres = (np.stack(np.mgrid[:rows, :cols][::-1], axis=-1).astype(np.float32) * stride).reshape((-1, 2))
            if self.anchors > 1:
                centres = np.stack([centres] * self.anchors, axis=1).reshape((-1, 2))
            if len(self._centres) < 100:
                self._centres[key] = centres
            return centres
        return self._centres[key]


def distance_to_box(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Boxes from anchor points and their (left, top, right, bottom) distances."""
    return np.stack([points[:, 0] - distance[:, 0], points[:, 1] - distance[:, 1],
                     points[:, 0] + distance[:, 2], points[:, 1] + distance[:, 3]], axis=-1)


def distance_to_points(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Landmarks from anchor points and their (dx, dy) offsets, flattened per anchor."""
    coords = []
    for i in range(0, distance.shape[1], 2):
        coords += [points[:, i % 2] + distance[:, i], points[:, i % 2 + 1] + distance[:, i + 1]]
    return np.stack(coords, axis=-1)


def nms(dets: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression (boxes in pixels, +1 areas as SCRFD's)."""
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        inter = w * h
        overlap = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(overlap <= threshold)[0] + 1]
    return keep
