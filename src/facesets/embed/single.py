"""The faces of one image, as `facesets embed` finds them, outside any catalog: what
`facesets.faces_in` returns and what `facesets name --refs` compares people with."""
from __future__ import annotations

import os

import cv2
import numpy as np

from facesets.embed.framing import embed_box
from facesets.embed.pipeline import EmbedOptions
from facesets.embed.regions import MATCH_IOU, overlap
from facesets.embed.work import embed_faces, find_faces, prepared_image
from facesets.media import DecodedImage, read_bytes, read_image


def faces_of_image(engine, image, options: EmbedOptions | None = None) -> list[dict]:
    """{box, landmarks, score, short_edge, sharpness, embedding} of every face of `image` (a path,
    EXIF orientation applied, or an RGB uint8 array), in upright pixels: the per-file work's
    decode, detection and alignment (embed.work), without a catalog."""
    options = options or EmbedOptions()
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        data = read_bytes(path)
        decoded = prepared_image(engine, options, path, data)
    else:
        path = data = None
        rgb = np.ascontiguousarray(image, dtype=np.uint8)
        decoded = DecodedImage(rgb, rgb.shape[1], rgb.shape[0], 1.0, None)
        decoded.prepared = engine.prepare(decoded)
    found = find_faces(engine, decoded, options, path, data)
    embed_faces(engine, found)
    return found


# -- review --
GROW = 0.5          # context the detector sees around a drawn box, a share of its size on each side
DETECT_SIDE = 160   # a drawn box shorter than this (pixels) is enlarged to it for the detector
MAX_ENLARGE = 8.0


def face_in_box(engine, path: str | os.PathLike, box) -> dict:
    """The face inside a box drawn on a photo (`box`: x1, y1, x2, y2 in the upright photo's
    original pixels), as the catalog stores faces: detected in the box and around it, cut out
    and enlarged so a face too small for the whole photo's detection reaches the detector's
    size; where the detector still finds none, the box as drawn, embedded (`framing.embed_box`).
    {box, landmarks, score, short_edge, sharpness, embedding, detected}."""
    image = read_image(os.fspath(path))
    box = np.asarray(box, np.float32)
    width, height = box[2] - box[0], box[3] - box[1]
    if width < 2 or height < 2:
        raise ValueError("draw a box around the face (it is too small)")
    area = np.clip([box[0] - GROW * width, box[1] - GROW * height, box[2] + GROW * width, box[3] + GROW * height],
                   0, [image.width, image.height, image.width, image.height])
    x1, y1, x2, y2 = (int(round(v * image.scale)) for v in area)
    enlarge = min(MAX_ENLARGE, max(1.0, DETECT_SIDE / max(min(width, height) * image.scale, 1.0)))
    crop = image.rgb[y1:y2, x1:x2]
    if enlarge > 1.0:
        crop = cv2.resize(crop, None, fx=enlarge, fy=enlarge, interpolation=cv2.INTER_CUBIC)
    factor = image.scale * enlarge                 # original pixels -> crop pixels
    offset = np.array([x1, y1], np.float32) / image.scale
    drawn = (box - np.tile(offset, 2)) * factor
    found = faces_of_image(engine, crop, EmbedOptions(min_face=0))
    best = max(found, key=lambda f: overlap(f["box"], drawn), default=None)
    if best is not None and overlap(best["box"], drawn) >= MATCH_IOU:
        landmarks = best["landmarks"]
        return {"box": np.asarray(best["box"], np.float32) / factor + np.tile(offset, 2),
                "landmarks": None if landmarks is None else np.asarray(landmarks, np.float32) / factor + offset,
                "score": float(best["score"]), "short_edge": float(best["short_edge"]) / factor,
                "sharpness": best["sharpness"], "embedding": best["embedding"], "detected": True}
    return {**embed_box(engine, image, box), "detected": False}
