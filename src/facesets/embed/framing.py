"""Where the face sits when nobody detected it: `--input aligned` crops without a detector, and
a face at a given box (an XMP region, a box drawn in the web UI) through `face_from_box`.

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

from facesets.engines.base import Detection, sharpness
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
        landmarks = landmarks_in_box(engine, rgb, box)
        if landmarks is not None:
            return {"box": box, "landmarks": landmarks, "chip": engine.align(rgb, Detection(box, landmarks, 1.0))}
    chip = cv2.resize(rgb, (engine.chip_size, engine.chip_size), interpolation=cv2.INTER_AREA)
    return {"box": np.array([0, 0, w, h], np.float32), "landmarks": None, "chip": chip}


def landmarks_in_box(engine, rgb: np.ndarray, box) -> np.ndarray | None:
    """Five points of the face in `box` without a detector: the engine's landmark model for a
    given box (dlib's shape predictor), else the mean points of an upright face (ArcFace)."""
    box = np.asarray(box, np.float32)
    if hasattr(engine, "landmarks_in_box"):
        return engine.landmarks_in_box(rgb, box)
    if engine.landmark_scheme == "arcface5":
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
        return centre + MEAN_ARCFACE5 * float(box[2] - box[0])
    return None


def face_from_box(engine, image, box) -> dict:
    """A face at a box nobody detected (an XMP region, a box drawn in the web UI), in the
    original pixels of `image` (a DecodedImage): {box, landmarks, score 0, short_edge, chip,
    sharpness}, as detection would give it. The one way a given box becomes a face."""
    box = np.asarray(box, np.float32)
    rgb, scale = image.rgb, image.scale
    height, width = rgb.shape[:2]
    inside = np.clip(box * scale, 0, [width - 1, height - 1, width - 1, height - 1]).astype(np.float32)
    landmarks = landmarks_in_box(engine, rgb, inside)
    if landmarks is not None:
        chip = engine.align(rgb, Detection(inside, landmarks, 0.0))
    else:
        x1, y1, x2, y2 = (int(round(v)) for v in inside)
        chip = cv2.resize(rgb[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)], (engine.chip_size, engine.chip_size),
                          interpolation=cv2.INTER_AREA)
    return {"box": inside / scale, "landmarks": None if landmarks is None else landmarks / scale, "score": 0.0,
            "short_edge": float(min(inside[2] - inside[0], inside[3] - inside[1]) / scale), "chip": chip,
            "sharpness": sharpness(chip)}


def embed_box(engine, image, box) -> dict:
    """`face_from_box` with its embedding (the chip let go)."""
    face = face_from_box(engine, image, box)
    face["embedding"] = engine.embed_chips([face.pop("chip")])[0]
    return face
