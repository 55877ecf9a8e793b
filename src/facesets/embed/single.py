"""The faces of one image, as `facesets embed` finds them, outside any catalog: what
`facesets.faces_in` returns and what `facesets name --refs` compares people with."""
from __future__ import annotations

import os

import numpy as np

from facesets.embed.pipeline import EmbedOptions, decode_side, find_faces
from facesets.media import DecodedImage, read_image


def faces_of_image(engine, image, options: EmbedOptions | None = None) -> list[dict]:
    """{box, landmarks, score, short_edge, sharpness, embedding} of every face of `image` (a path,
    EXIF orientation applied, or an RGB uint8 array), largest first, in upright pixels."""
    options = options or EmbedOptions()
    path = None
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        decoded = read_image(path, reduce_to=decode_side(engine, options))
    else:
        rgb = np.ascontiguousarray(image, dtype=np.uint8)
        decoded = DecodedImage(rgb, rgb.shape[1], rgb.shape[0], 1.0, None)
    decoded.prepared = engine.prepare(decoded)
    found = find_faces(engine, decoded, options, path)
    for face, vector in zip(found, engine.embed_chips([face.pop("chip") for face in found]) if found else []):
        face["embedding"] = vector
    return found


def largest(faces: list[dict]) -> dict | None:
    """The face with the largest box."""
    return max(faces, key=lambda f: float((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1])), default=None)
