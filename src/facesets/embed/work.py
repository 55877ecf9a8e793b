"""The per-file work, wherever it runs (a thread or process here, a Dask worker): a file's
bytes read once and hashed, decoded, its faces detected and aligned, the chips embedded.

A photo's faces are named from its XMP face regions right after detection (embed.regions); a
video is hashed as a stream and its sampled frames detected one after another (embed.video),
each face keeping its frame. What comes back is a `FileWork`: no pixels, only boxes, landmarks,
scores and chips or embeddings (and a face's "frame" and "name" where it has them), so it
travels back from a worker process or a cluster worker as a small record. Whether its bytes are
new content, a copy or an unchanged file is decided at commit (embed.commit), in the order the
files were handed out.
"""
from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from facesets.embed.regions import named_by_regions
from facesets.embed.video import analyse_video
from facesets.engines import FaceEngine
from facesets.engines.base import sharpness
from facesets.media import (DecodedImage, DecodeError, catalog_path, fs_path, is_video_path, read_bytes, read_image,
                            read_sha256, sha256_bytes)
from facesets.scan import FileJob

if TYPE_CHECKING:
    from facesets.embed.pipeline import EmbedOptions


@dataclass
class FileWork:
    """One file after it was read, hashed, decoded, detected and aligned: no pixels kept, only
    chips (embeddings once embedded), so it comes back from a worker as a small record."""
    job: FileJob
    sha256: str | None = None  # of the bytes read; None: they could not be read
    decoded: bool = False      # False: unreadable, or bytes whose faces the catalog holds already
    error: str | None = None
    width: int = 0
    height: int = 0
    taken_at: str | None = None
    faces: list = field(default_factory=list)
    image: object = None       # the decoded image, only until the main thread has detected in it
    data: bytes | None = None  # the file's bytes, as long as the image (a small face is decoded closer)
    source: str | None = None  # where this machine read the file (its sidecars lie beside it), as long as the image


def analyse_file(job: FileJob, engine: FaceEngine, options: EmbedOptions, detect: bool = True,
                 seen: set[str] | None = None, source: str | None = None,
                 models: AbstractContextManager = nullcontext()) -> FileWork:
    """The per-file work, wherever it runs: the bytes read once (from `source` where this machine
    mounts the library elsewhere) and hashed, then decoded, the faces detected and aligned (with
    `models` held around the model calls). Bytes whose faces the catalog holds (an embedded file
    touched, a copy already met in `seen`) are not decoded: the commit makes them what they are.
    A video is detected here whatever `detect` says: its frames are decoded one at a time."""
    source = source or fs_path(job.path)
    if is_video_path(job.path):
        return _analyse_video(job, engine, options, seen, source, models)
    work = FileWork(job)
    try:
        data = read_bytes(source)
    except DecodeError as exc:
        work.error = str(exc)
        return work
    work.sha256 = sha256_bytes(data)
    if job.unchanged(work.sha256) or _met_before(seen, work.sha256):
        return work
    work.decoded = True
    try:
        image = prepared_image(engine, options, job.path, data)
        work.width, work.height, work.taken_at = image.width, image.height, image.taken_at
        work.image, work.data, work.source = image, data, source
    except DecodeError as exc:
        work.error = str(exc)
    if detect and work.image is not None:
        with models:
            detect_faces(work, engine, options)
    return work


def _analyse_video(job: FileJob, engine: FaceEngine, options: EmbedOptions, seen: set[str] | None, source: str,
                   models: AbstractContextManager) -> FileWork:
    """A video's bytes hashed as a stream (never held whole), then, unless the catalog holds its
    faces already, its sampled frames decoded from `source` and detected one by one."""
    work = FileWork(job)
    try:
        work.sha256 = read_sha256(source)
    except DecodeError as exc:
        work.error = str(exc)
        return work
    if job.unchanged(work.sha256) or _met_before(seen, work.sha256):
        return work

    def find_in_frame(engine: FaceEngine, image, options: EmbedOptions) -> list[dict]:
        with models:
            return find_faces(engine, image, options)

    return replace(work, decoded=True, **analyse_video(source, engine, options, find_in_frame))


def _met_before(seen: set[str] | None, sha256: str) -> bool:
    if seen is None:
        return False
    if sha256 in seen:
        return True
    seen.add(sha256)
    return False


def detect_faces(work: FileWork, engine: FaceEngine, options: EmbedOptions) -> None:
    """Faces and their chips into `work`, named where the photo's XMP face regions name them;
    the pixels and bytes are let go."""
    try:
        work.faces = find_faces(engine, work.image, options, work.job.path, work.data)
        if options.read_xmp and options.input_mode == "photos":
            work.faces = _named_by_regions(work, engine)
    except DecodeError as exc:  # a closer decode for small faces failed
        work.error = str(exc)
    finally:
        work.image = work.data = work.source = None


def _named_by_regions(work: FileWork, engine: FaceEngine) -> list[dict]:
    """The faces with the names of the photo's XMP face regions, read where this machine reads
    the photo; each region's sidecar (or photo) as the catalog names it, wherever it was read."""
    faces = named_by_regions(engine, work.image, work.faces, work.source,
                             Rereader(work.image, work.job.path, work.data).at, work.data)
    here = os.path.dirname(fs_path(work.job.path))
    for face in faces:
        if face.get("region_from"):
            face["region_from"] = catalog_path(os.path.join(here, os.path.basename(face["region_from"])))
    return faces


def analyse_batch(jobs: list[FileJob], engine: FaceEngine, options: EmbedOptions,
                  models: AbstractContextManager = nullcontext(),
                  source: Callable[[FileJob], str] | None = None) -> list[FileWork]:
    """Files analysed one after another and their chips embedded in one recogniser call: one
    task of a worker process or of a cluster worker. A copy of an earlier file of the batch is
    not decoded again. `models` is held around every model call (a cluster worker's threads take
    turns on models that thread themselves); `source(job)`: where this machine reads the file."""
    seen: set[str] = set()
    works = [analyse_file(job, engine, options, seen=seen, source=source(job) if source else None, models=models)
             for job in jobs]
    with models:
        embed_chips_of(engine, works)
    return works


def embed_chips_of(engine: FaceEngine, works: list[FileWork]) -> None:
    """Every chip not yet embedded (worker processes embed theirs) in one recogniser call."""
    embed_faces(engine, [face for work in works for face in work.faces if "chip" in face])


def embed_faces(engine: FaceEngine, faces: list[dict]) -> None:
    """Each face's chip replaced by its embedding, all in one recogniser call."""
    if faces:
        for face, vector in zip(faces, engine.embed_chips([face.pop("chip") for face in faces])):
            face["embedding"] = vector


def prepared_image(engine: FaceEngine, options: EmbedOptions, path, data: bytes | None = None) -> DecodedImage:
    """A photo decoded as the detector wants it (`data`: its bytes, already read from `path`)."""
    image = read_image(path, reduce_to=decode_side(engine, options), data=data)
    if options.input_mode != "aligned":
        image.prepared = engine.prepare(image)
    return image


def decode_side(engine: FaceEngine, options: EmbedOptions) -> int | None:
    """The long side a JPEG is decoded at (DCT-domain downscale): what the detector needs.
    None: full resolution."""
    if options.input_mode == "aligned" or options.reduced_decode is False:
        return None
    side = getattr(engine, "decode_side", engine.det_max_side)
    if side is None and options.reduced_decode:
        side = getattr(engine, "reduced_side", None)
    return side


def find_faces(engine: FaceEngine, image, options: EmbedOptions, path=None, data: bytes | None = None) -> list[dict]:
    if options.input_mode == "aligned":  # no detector: the face is where crops put it
        from facesets.embed.framing import aligned_face
        face = aligned_face(engine, image.rgb)
        face["box"] = face["box"] / image.scale
        face["landmarks"] = None if face["landmarks"] is None else face["landmarks"] / image.scale
        return [{**face, "score": 1.0, "short_edge": float(face["box"][2] - face["box"][0]),
                 "sharpness": sharpness(face["chip"])}]
    source = Rereader(image, path, data)
    faces = []
    min_face = options.min_face if options.input_mode == "photos" else None  # crops: their one face
    for det in engine.detect_image(image, source.at, min_face):  # original pixels
        short_edge = det.short_edge
        if short_edge < options.min_face and options.input_mode == "photos":
            continue
        faces.append({"det": det, "box": det.box, "landmarks": det.landmarks, "score": det.score,
                      "short_edge": short_edge})
    if faces:
        # Chips are cut where the smallest face has at least the pixels it has in a chip
        # (original pixels at most), so small faces keep every pixel the camera recorded.
        face_px = getattr(engine, "face_px", engine.chip_size)
        limit = options.chip_upsample or getattr(engine, "chip_upsample", 1.0)
        aligned = source.at(max(face_px / limit / max(f["short_edge"], 1.0) for f in faces))
        for face in faces:
            face["chip"] = engine.align_image(aligned, face.pop("det"))
            face["sharpness"] = sharpness(face["chip"])
    return faces


class Rereader:
    """The image at a requested scale: the decode in hand when it is large enough, else the
    file (its bytes in hand, else read again) decoded again, DCT-reduced when that suffices,
    remembered for the next request."""

    def __init__(self, image, path, data: bytes | None = None):
        self.image, self.path, self.data = image, path, data

    def at(self, scale: float):
        scale = min(1.0, scale)
        if self.image.scale >= scale * 0.999 or (self.path is None and self.data is None):
            return self.image
        long_side = max(self.image.width, self.image.height)
        self.image = read_image(self.path, reduce_to=None if scale >= 1.0 else int(np.ceil(long_side * scale)),
                                data=self.data)
        return self.image
