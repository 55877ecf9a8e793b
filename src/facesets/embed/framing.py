"""Where the face sits in a crop nobody detected: `--input aligned` without a detector.

An engine chip (dlib 150x150, ArcFace 112x112) is used as it is, resized. A larger crop
(512x512 from `facesets export`, roop and most face-set tools) frames the face the export's
way: a square of the face plus half its size on every side, lifted for head-room. Engines
with a landmark model for a given box (dlib's shape predictor) align on that box, which is
no detector call and gives the chip detection would have given; ArcFace engines align on the
mean five points of an upright face in that box (no roll correction).
"""
from __future__ import annotations

import cv2
import numpy as np

from facesets.engines.base import Detection
from facesets.media.crops import crop_face_box

CHIP_SLACK = 1.15      # up to this much above the engine's chip size, an image is a chip
# arcface5 points relative to the box centre, in units of the box's long side: medians of
# SCRFD det_500m on 180 lfw158 photos, mirrored (eyes, nose, mouth corners).
MEAN_ARCFACE5 = np.array([[-0.165, -0.103], [0.165, -0.103], [0.0, 0.086], [-0.136, 0.242], [0.136, 0.242]],
                         np.float32)


def aligned_face(engine, rgb: np.ndarray) -> dict:
    """{box, landmarks, chip} of the one face of a pre-cut image, without detection."""
    h, w = rgb.shape[:2]
    if max(h, w) > engine.chip_size * CHIP_SLACK:
        box = crop_face_box(w, h)
        landmarks = None
        if hasattr(engine, "landmarks_in_box"):
            landmarks = engine.landmarks_in_box(rgb, box)
        elif engine.landmark_scheme == "arcface5":
            centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
            landmarks = centre + MEAN_ARCFACE5 * float(box[2] - box[0])
        if landmarks is not None:
            return {"box": box, "landmarks": landmarks, "chip": engine.align(rgb, Detection(box, landmarks, 1.0))}
    chip = cv2.resize(rgb, (engine.chip_size, engine.chip_size), interpolation=cv2.INTER_AREA)
    return {"box": np.array([0, 0, w, h], np.float32), "landmarks": None, "chip": chip}
