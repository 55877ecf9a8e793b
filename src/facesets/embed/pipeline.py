"""From pending files to faces with embeddings, committed in small batches.

Worker threads decode ahead of the main thread (JPEGs in the DCT domain at the size the
detector needs, or at full resolution where the engine asks for it). With an engine whose
models thread themselves (insightface) the threads only decode, at a lower priority, and the
main thread runs detector and recogniser one call at a time, the chips of a whole batch in one
recogniser call. dlib holds the GIL, so with it worker processes decode, detect and embed.
Each batch is one transaction:
a kill -9 loses at most the batch in flight and a re-run resumes where it stopped.
"""
from __future__ import annotations

import os
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Callable, Iterable

import numpy as np

from facesets.catalog import Catalog, FileStatus, NewFace
from facesets.config import MIN_FACE
from facesets.engines import EngineOptions, FaceEngine, load_engine
from facesets.engines.base import sharpness
from facesets.embed.extras import commit_extras
from facesets.embed.regions import named_by_regions
from facesets.embed.video import analyse_video
from facesets.media import DecodeError, is_video_path, read_image
from facesets.scan import scan
from facesets.workers import default_workers, engine as worker_engine, engine_pool

INPUT_MODES = ("photos", "crops", "aligned")
PROCESS_MIN_FILES = 16  # fewer pending files: starting worker processes costs more than it saves
DECODE_NICE = 10        # niceness of decode threads beside multi-threaded models (Linux)
PROCESS_CHUNK = 4       # files per task sent to a worker process (their chips embedded together)
GIL_SWITCH_SECONDS = 0.0005  # while decode threads run beside the model thread (see _switch_interval)


@dataclass
class EmbedOptions:
    input_mode: str = "photos"
    batch_files: int = 16        # files per transaction
    workers: int | None = None   # decode/detect threads, or processes for dlib (default: cores)
    reduced_decode: bool | None = None  # JPEGs decoded at the detector's size (DCT), re-read for
    # small faces; None: the engine's choice (dlib: reduced; insightface: full, to match its own loop)
    chip_upsample: float | None = None  # re-read a small face unless its chip upsamples it at most
    # this much (default: the engine's `chip_upsample`, measured by benchmarks/embed_throughput.py)
    min_face: int = MIN_FACE     # the smallest face looked for (short box edge, original px): a
    # large photo gets a closer look where faces this small may hide; smaller faces are dropped
    video_step: float = 1.0      # videos: a frame every this many seconds, plus scene changes
    max_video_seconds: float | None = None  # videos: only their first this many seconds (None: all)
    video_max_faces: int = 50    # videos: at most this many faces each (best frame per span of the video)
    read_xmp: bool = True        # photos: names from XMP face regions (embedded, .xmp sidecars)


@dataclass
class EmbedResult:
    run_id: int
    files_scanned: int = 0
    files_new: int = 0
    aliases_new: int = 0
    decoded: int = 0
    embedded_files: int = 0
    faces: int = 0
    no_face: int = 0
    errors: int = 0
    interrupted: bool = False
    error_reasons: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


ProgressHook = Callable[[str, int, int | None], None]  # (phase, advance, total)


def embed(catalog: Catalog, sources: Iterable[str | os.PathLike], engine: FaceEngine | None = None,
          engine_options: EngineOptions | None = None, options: EmbedOptions | None = None,
          progress: ProgressHook | None = None) -> EmbedResult:
    """Scan `sources` into the catalog, then embed every pending file. Resumable: Ctrl-C keeps
    every committed batch and returns a result with `interrupted` set."""
    options = options or EmbedOptions()
    if options.input_mode not in INPUT_MODES:
        raise ValueError(f"unknown input mode {options.input_mode!r} ({', '.join(INPUT_MODES)})")
    sources = [os.fspath(s) for s in sources]
    if engine is not None:  # a given engine is checked against the catalog before any work
        catalog.register_model(engine.engine, engine.model, engine.dim, engine.detector, engine.landmark_scheme)
    described = engine.describe() if engine is not None else asdict(engine_options or EngineOptions())
    params = {"sources": sources, "engine": described, **asdict(options)}
    result = EmbedResult(0)
    try:
        with catalog.stage("embed", params) as run:
            result.run_id, run.stats = run.id, result
            try:
                stats = scan(catalog, sources, run.id,
                             progress=(lambda _p: progress("scan", 1, None)) if progress else None)
                result.files_scanned, result.files_new, result.aliases_new = \
                    stats.seen, stats.new_files, stats.new_aliases
                if catalog.files.has_pending() or catalog.embedding_model() is None:
                    # models load only when there is work: a re-run over an unchanged tree is a scan
                    engine = engine or load_engine(engine_options)
                    model = catalog.register_model(engine.engine, engine.model, engine.dim, engine.detector,
                                                   engine.landmark_scheme)
                    embed_pending(catalog, engine, model.id, run.id, options, result, progress)
            finally:
                result.error_reasons = catalog.files.error_reasons()
                result.errors = sum(result.error_reasons.values())
    except KeyboardInterrupt:
        result.interrupted = True
    return result


@dataclass
class _Work:
    """One file after decode, detection and alignment: no pixels kept, only chips."""
    file_id: int
    path: str
    error: str | None = None
    width: int = 0
    height: int = 0
    taken_at: str | None = None
    faces: list = field(default_factory=list)
    image: object = None  # the decoded image, only until the main thread has detected in it


def embed_pending(catalog: Catalog, engine: FaceEngine, model_id: int, run_id: int,
                  options: EmbedOptions, result: EmbedResult,
                  progress: ProgressHook | None = None) -> None:
    """Files are analysed (decoded, detected, aligned) ahead of the main thread, which embeds
    the chips of `batch_files` files in one recogniser call and commits them in one transaction.
    Engines that hold the GIL (dlib) analyse and embed in worker processes instead."""
    pending = [{"id": file_id, "path": path} for file_id, path in catalog.files.pending()]
    if progress:
        progress("embed", 0, len(pending))
    workers = options.workers or default_workers()
    maker = engine.maker() if engine.holds_gil and workers > 1 and len(pending) >= PROCESS_MIN_FILES else None
    if maker is not None:
        analysed = _analysed_in_processes(maker, pending, options, workers)
    else:
        analysed = _analysed_in_threads(engine, pending, options, workers)
    batch: list[_Work] = []
    with closing(analysed):
        for work in analysed:
            if work.image is not None:  # decoded only: this engine's models run here
                _detect(work, engine, options)
            batch.append(work)
            if len(batch) >= options.batch_files:
                _finish_batch(catalog, engine, batch, model_id, run_id, options, result, progress)
                batch = []
        if batch:
            _finish_batch(catalog, engine, batch, model_id, run_id, options, result, progress)


def _analysed_in_threads(engine: FaceEngine, pending: list[dict], options: EmbedOptions, workers: int):
    """Threads decode (and detect and align, unless the engine's models thread themselves: then
    they only decode and every model call stays on the main thread, one at a time)."""
    detect = not engine.threaded_models
    initializer = _yield_to_models if engine.threaded_models else None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyse", initializer=initializer) as pool, \
            _switch_interval(GIL_SWITCH_SECONDS if engine.threaded_models else None):
        yield from _ahead(pool, lambda row: _analyse(row, engine, options, detect), pending, _depth(workers))


def _depth(workers: int) -> int:
    """Files decoded ahead of the main thread: every worker busy plus a few in hand, not more
    (a 12 MP photo is 36 MB decoded: 16 workers at 2 each held 2.5 GB)."""
    return workers + max(2, workers // 4)


@contextmanager
def _switch_interval(seconds: float | None):
    """A shorter GIL switch interval while decode threads run beside the model thread: the
    model thread gets the GIL back sooner after each model call (16 threads on 16 cores with a
    GPU: SCRFD's 300 calls took 4.8 s of the main thread at 5 ms, 2.6 s at 0.5 ms)."""
    if seconds is None:
        yield
        return
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _yield_to_models() -> None:
    """Decode threads run at a lower priority than the model threads: a model's parallel ops
    then do not wait on a thread the decoder holds, and decoding fills the gaps between ops."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: same priority
        pass


def _analysed_in_processes(maker, pending: list[dict], options: EmbedOptions, workers: int):
    """Each worker process analyses a few files and embeds their chips itself: only boxes,
    landmarks and embeddings come back."""
    chunks = [pending[i:i + PROCESS_CHUNK] for i in range(0, len(pending), PROCESS_CHUNK)]
    pool = engine_pool(maker, workers)
    try:
        for works in _ahead(pool, partial(_analyse_and_embed, options=options), chunks, _depth(workers)):
            yield from works
    finally:  # an interrupt or a failed commit: drop what is queued, let the running chunks end
        pool.shutdown(wait=True, cancel_futures=True)


def _analyse_and_embed(rows: list[dict], options: EmbedOptions) -> list[_Work]:
    engine = worker_engine()
    works = [_analyse(row, engine, options) for row in rows]
    _embed_chips_of(engine, works)
    return works


def _ahead(pool: ThreadPoolExecutor, fn, items, depth: int):
    """`fn` over `items` in order, with up to `depth` calls running ahead (bounded memory)."""
    queue: deque = deque()
    items = iter(items)
    for item in items:
        queue.append(pool.submit(fn, item))
        if len(queue) >= depth:
            break
    while queue:
        done = queue.popleft().result()
        for item in items:
            queue.append(pool.submit(fn, item))
            break
        yield done


def _embed_chips_of(engine: FaceEngine, works: list[_Work]) -> None:
    """Every chip not yet embedded (worker processes embed theirs) in one recogniser call."""
    faces = [face for work in works for face in work.faces if "chip" in face]
    for face, vector in zip(faces, engine.embed_chips([face.pop("chip") for face in faces])):
        face["embedding"] = vector


def _finish_batch(catalog, engine, batch, model_id, run_id, options, result, progress) -> None:
    _embed_chips_of(engine, batch)
    result.decoded += sum(1 for w in batch if w.error is None)
    _commit_batch(catalog, batch, model_id, run_id, options.input_mode, result)
    if progress:
        progress("embed", len(batch), None)


def decode_side(engine: FaceEngine, options: EmbedOptions) -> int | None:
    """The long side a JPEG is decoded at (DCT-domain downscale): what the detector needs.
    None: full resolution."""
    if options.input_mode == "aligned" or options.reduced_decode is False:
        return None
    side = getattr(engine, "decode_side", engine.det_max_side)
    if side is None and options.reduced_decode:
        side = getattr(engine, "reduced_side", None)
    return side


def _analyse(row, engine: FaceEngine, options: EmbedOptions, detect: bool = True) -> _Work:
    if is_video_path(row["path"]):   # media hook: a video yields frames, detected here one by one
        return _Work(row["id"], row["path"], **analyse_video(row["path"], engine, options, find_faces))
    work = _Work(row["id"], row["path"])
    try:
        image = read_image(row["path"], reduce_to=decode_side(engine, options))
        work.width, work.height, work.taken_at = image.width, image.height, image.taken_at
        if options.input_mode != "aligned":
            image.prepared = engine.prepare(image)
        work.image = image
    except DecodeError as exc:
        work.error = str(exc)
    if detect and work.image is not None:
        _detect(work, engine, options)
    return work


def _detect(work: _Work, engine: FaceEngine, options: EmbedOptions) -> None:
    """Faces and their chips into `work`; the pixels are let go."""
    try:
        work.faces = find_faces(engine, work.image, options, work.path)
        if options.read_xmp and options.input_mode == "photos":   # media hook: names from XMP face regions
            work.faces = named_by_regions(engine, work.image, work.faces, work.path, Rereader(work.image, work.path).at)
    except DecodeError as exc:  # a re-read for small faces failed
        work.error = str(exc)
    finally:
        work.image = None


def find_faces(engine: FaceEngine, image, options: EmbedOptions, path=None) -> list[dict]:
    if options.input_mode == "aligned":  # no detector: the face is where crops put it
        from facesets.embed.framing import aligned_face
        face = aligned_face(engine, image.rgb)
        face["box"] = face["box"] / image.scale
        face["landmarks"] = None if face["landmarks"] is None else face["landmarks"] / image.scale
        return [{**face, "score": 1.0, "short_edge": float(face["box"][2] - face["box"][0]),
                 "sharpness": sharpness(face["chip"])}]
    source = Rereader(image, path)
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
    file decoded again (DCT-reduced when that suffices), remembered for the next request."""

    def __init__(self, image, path):
        self.image, self.path = image, path

    def at(self, scale: float):
        scale = min(1.0, scale)
        if self.image.scale >= scale * 0.999 or self.path is None:
            return self.image
        long_side = max(self.image.width, self.image.height)
        self.image = read_image(self.path, reduce_to=None if scale >= 1.0 else int(np.ceil(long_side * scale)))
        return self.image


def _commit_batch(catalog: Catalog, batch: list[_Work], model_id: int, run_id: int,
                  input_mode: str, result: EmbedResult) -> None:
    with catalog.transaction():
        for work in batch:
            if work.error is not None:
                catalog.files.mark_error(work.file_id, work.error, run_id)
                continue
            faces = work.faces
            found = len(faces)
            if input_mode == "crops":  # the largest face; the file still says how many there were
                faces = sorted(faces, key=lambda f: -float((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1])))[:1]
            catalog.faces.replace_unassigned(
                work.file_id, [NewFace(f["box"], f["landmarks"], f["score"], f["short_edge"], f["sharpness"],
                                       f["embedding"]) for f in faces],
                model_id=model_id, input_mode=input_mode, run_id=run_id)
            commit_extras(catalog, work.file_id, faces, run_id)   # media hook: video frames, XMP names
            if input_mode == "crops" and found != 1:
                status = FileStatus.NOFACE if found == 0 else FileStatus.MULTIFACE
            else:
                status = FileStatus.DONE if faces else FileStatus.NOFACE
            catalog.files.mark_embedded(work.file_id, status, width=work.width, height=work.height,
                                        taken_at=work.taken_at, model_id=model_id, input_mode=input_mode,
                                        n_faces=found, run_id=run_id)
            result.embedded_files += 1
            result.faces += len(faces)
            result.no_face += int(not faces)
