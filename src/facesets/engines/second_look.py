"""A second look at the places where SCRFD's 640 px pass over a large photo saw something faint.

At 640 px a 60 px face of a 12 MP photo is 10 px, under SCRFD's smallest anchor: the pass scores
it well under det_thresh, but still above the background. Each such weak detection that is small
in SCRFD's input becomes a candidate; it is cut from the photo's own pixels at a scale where the
face is FACE_PX wide, the cuts are packed side by side into one small input, and SCRFD looks
once more; a face there above det_thresh, at the candidate's place, is kept. The first pass's
own faces are not touched, so the faces found at 640 px keep their boxes, landmarks and chips;
a confirmed face that pass saw LOCATED_PX or bigger keeps that pass's box and landmarks too
(they are what insightface's own loop gives it when its resize lifts the score over det_thresh),
and only faces too small for it take theirs from the cut.
benchmarks/embed_throughput.py measures this against tiling and YuNet proposals.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from facesets.engines.base import Detection
from facesets.media.decode import oriented_array

CANDIDATE_SCORE = 0.03  # weakest first-pass score looked at again
FACE_SCORE = 0.65       # a face in the second look must be surer than det_thresh (0.5): the places
# looked at were chosen on weak evidence (both measured by benchmarks/embed_throughput.py)
SURE_PX = 32            # faces at least this big in SCRFD's input are the first pass's business
LOCATED_PX = 20         # from this size the first pass's landmarks are kept for a confirmed face
SIZE_SLACK = 0.7        # a candidate's box may be this much smaller than the face it hides
FACE_PX = 40            # the candidate's face size in its cut
CELL = 128              # side of a cut in SCRFD's input (a multiple of 32)
COLUMNS = 5             # cuts per row of the packed input (640 px wide)
MAX_CANDIDATES = 50     # at most 2 passes' worth of pixels per photo
MAX_ZOOM = 2.0          # cuts are upsampled at most this much
NEAR = 0.5              # a confirmed face lies within this many candidate sizes of it


def needed(min_face: float | None, factor: float) -> bool:
    """Whether faces of `min_face` original pixels can hide from a first pass that sees the
    photo at `factor` input pixels per original pixel."""
    return min_face is not None and min_face * factor < SURE_PX


def candidates(dets: np.ndarray, kpss: np.ndarray, factor: float, det_thresh: float, min_face: float,
               score: float) -> list[tuple[np.ndarray, float, Detection | None]]:
    """(centre, short side, the detection itself where it is LOCATED_PX or bigger), in original
    pixels, of the first pass's weak, small detections (`dets`, `kpss`: its n x 5 boxes + scores
    and landmarks in input pixels, best first) that lie in no face it found."""
    found = dets[dets[:, 4] >= det_thresh, :4]
    out = []
    for (x1, y1, x2, y2, conf), kps in zip(dets, kpss):
        side = min(x2 - x1, y2 - y1)
        centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
        if not score <= conf < det_thresh or side > SURE_PX or side / factor < min_face * SIZE_SLACK:
            continue
        if any(_inside(centre, f) for f in found):
            continue
        seen = Detection(np.array([x1, y1, x2, y2], np.float32), kps, float(conf)).scaled(1.0 / factor)
        out.append((centre / factor, float(side / factor), seen if side >= LOCATED_PX else None))
        if len(out) == MAX_CANDIDATES:
            break
    return out


def zoom_for(side: float) -> float:
    """Cut pixels per original pixel for a candidate whose box is `side` pixels."""
    return min(FACE_PX / max(side, 1.0), MAX_ZOOM)


def cut(image, centre: np.ndarray, side: float) -> tuple[np.ndarray, float, np.ndarray]:
    """(CELL x CELL upright pixels, step, offset): the square around a candidate cut from a
    decode's stored pixels without turning the whole photo; cut pixel u lies at u * step +
    offset in original pixels."""
    span = max(1, round(CELL / zoom_for(side) * image.scale))  # decode pixels across the cut
    origin = np.round(centre * image.scale - span / 2)         # its corner, upright decode pixels
    to_stored = np.linalg.inv(image.stored_to_upright())
    corners = [to_stored @ (x, y, 1.0) for x, y in (origin, origin + span - 1)]
    x0, y0 = (int(round(min(c[i] for c in corners))) for i in (0, 1))
    window = np.zeros((span, span, 3), np.uint8)
    height, width = image.stored.shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + span, width), min(y0 + span, height)
    if xa < xb and ya < yb:
        window[ya - y0:yb - y0, xa - x0:xb - x0] = image.stored[ya:yb, xa:xb]
    pixels = cv2.resize(window, (CELL, CELL), interpolation=cv2.INTER_AREA if span > CELL else cv2.INTER_LINEAR)
    step = span / CELL  # decode pixels per cut pixel; pixel centres map onto pixel centres
    offset = (origin + 0.5 * step - 0.5) / image.scale
    return oriented_array(pixels, image.orientation), step / image.scale, offset


def look_again(detector, image, found: list[Detection], spots: list, score: float) -> list[Detection]:
    """Faces at the candidate `spots` (original pixels) that none of `found` holds already,
    cut from `image` (a decode holding at least zoom_for(side) pixels per original pixel)."""
    cuts = [cut(image, centre, side) for centre, side, _ in spots]
    columns = min(len(cuts), COLUMNS)
    canvas = np.zeros((math.ceil(len(cuts) / columns) * CELL, columns * CELL, 3), np.uint8)
    for index, (pixels, _, _) in enumerate(cuts):
        row, column = divmod(index, columns)
        canvas[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL] = pixels
    dets, kpss = detector.detect_input(canvas, score)
    located = [seen for _, _, seen in spots if seen is not None]
    taken = [d.box for d in found]
    new = []
    for det, kps in zip(dets, kpss):  # best score first
        column, row = int((det[0] + det[2]) / 2 // CELL), int((det[1] + det[3]) / 2 // CELL)
        index = row * columns + column
        if index >= len(cuts):
            continue
        _, step, offset = cuts[index]
        corner = np.array([column * CELL, row * CELL], np.float32)
        box = ((det[:4].reshape(2, 2) - corner) * step + offset).reshape(4).astype(np.float32)
        centre = (box[:2] + box[2:]) / 2
        spot, side, _ = spots[index]
        if np.abs(centre - spot).max() > NEAR * side or any(_inside(centre, b) for b in taken):
            continue
        seen = max(located, key=lambda d: _iou(d.box, box), default=None)  # any cut may hold it
        if seen is not None and _iou(seen.box, box) >= 0.5:
            face = Detection(seen.box, seen.landmarks, float(det[4]))
        else:
            face = Detection(box, ((kps - corner) * step + offset).astype(np.float32), float(det[4]))
        taken.append(face.box)
        new.append(face)
    return new


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
