"""The faces of one image, as `facesets embed` finds them, outside any catalog: what
`facesets.faces_in` returns and what `facesets name --refs` compares people with."""
from __future__ import annotations

import os

import numpy as np

from facesets.embed.pipeline import EmbedOptions
from facesets.embed.work import embed_faces, find_faces, prepared_image
from facesets.media import DecodedImage, read_bytes


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


def largest(faces: list[dict]) -> dict | None:
    """The face with the largest box."""
    return max(faces, key=lambda f: float((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1])), default=None)
