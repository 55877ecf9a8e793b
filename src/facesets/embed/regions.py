"""Names from XMP face regions: each named region of a photo goes to the detected face it
overlaps (IoU >= 0.5), or, where the detector found nothing there, to a face embedded at the
region's box as given (`framing.face_from_box`).

Detectors frame a face more tightly than most taggers do (dlib's HOG box is about 0.6 of the
side of a typical region), so a box lying inside the other at a quarter of its area or more
also matches. Each region and each face is matched at most once, best overlap first.
"""
from __future__ import annotations

import numpy as np

from facesets.embed.framing import face_from_box
from facesets.media.xmp import read_regions

MATCH_IOU = 0.5
INSIDE = 0.9          # share of the smaller box inside the larger one ...
INSIDE_AREA = 0.25    # ... and the smaller box at least this share of the larger one's area


def named_by_regions(engine, image, faces: list[dict], path: str, reread, data: bytes | None = None) -> list[dict]:
    """`faces` with "name" set where a named region of the photo at `path` lies, plus a face
    for each named region no detection matched. `reread(scale)` gives the photo at a scale
    (the embed stage's re-reader), so a region's chip is cut with the pixels it needs; `data`:
    the photo's bytes, already read (its embedded XMP is read from them)."""
    regions = [r for r in read_regions(path, image.width, image.height, data) if r.name]
    if not regions:
        return faces
    matched = match_boxes([r.box for r in regions], [f["box"] for f in faces])
    for r, f in matched.items():
        faces[f].update(name=regions[r].name, region_from=regions[r].source, region_detected=True)
    for r, region in enumerate(regions):
        if r in matched:
            continue
        short = max(1.0, min(region.box[2] - region.box[0], region.box[3] - region.box[1]))
        face = face_from_box(engine, reread(2.0 * engine.chip_size / short), region.box)
        faces.append({**face, "name": region.name, "region_from": region.source, "region_detected": False})
    return faces


def overlap(a, b) -> float:
    """IoU of two boxes, or INSIDE-style containment scored just under a match when one box
    sits inside the other at a quarter of its area or more."""
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    w, h = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
    iou = inter / (area_a + area_b - inter)
    small, large = min(area_a, area_b), max(area_a, area_b)
    if iou < MATCH_IOU and inter >= INSIDE * small and small >= INSIDE_AREA * large:
        return MATCH_IOU
    return iou


def match_boxes(regions: list, boxes: list) -> dict[int, int]:
    """Region index -> box index, one-to-one, best overlap first, each at least MATCH_IOU."""
    if not regions or not boxes:
        return {}
    scores = np.array([[overlap(r, b) for b in boxes] for r in regions])
    matched: dict[int, int] = {}
    for flat in np.argsort(-scores, axis=None, kind="stable"):
        r, b = divmod(int(flat), len(boxes))
        if scores[r, b] < MATCH_IOU:
            break
        if r not in matched and b not in matched.values():
            matched[r] = b
    return matched
