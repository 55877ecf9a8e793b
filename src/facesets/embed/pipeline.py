"""From pending files to faces with embeddings, committed in small batches.

Decoding runs in a thread pool ahead of the models (Pillow and OpenCV release the GIL),
recognition is batched across the images of a batch, and each batch is one transaction:
a kill -9 loses at most the batch in flight and a re-run resumes where it stopped.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import cv2
import numpy as np

from facesets.catalog import Catalog, to_blob
from facesets.engines import EngineOptions, FaceEngine, load_engine
from facesets.engines.base import Detection, sharpness
from facesets.scan import DecodeError, read_image, scan

INPUT_MODES = ("photos", "crops", "aligned")


@dataclass
class EmbedOptions:
    input_mode: str = "photos"
    batch_files: int = 16        # files per transaction
    workers: int | None = None   # decode threads (default: cores)
    min_face: int = 20           # faces with a shorter box edge (original px) are ignored


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
          progress: ProgressHook | None = None, notice=print) -> EmbedResult:
    """Scan `sources` into the catalog, then embed every pending file. Resumable."""
    options = options or EmbedOptions()
    if options.input_mode not in INPUT_MODES:
        raise ValueError(f"unknown input mode {options.input_mode!r} ({', '.join(INPUT_MODES)})")
    sources = [os.fspath(s) for s in sources]
    engine = engine or load_engine(engine_options, notice=notice)
    model = catalog.register_model(engine.engine, engine.model, engine.dim, engine.detector,
                                   engine.landmark_scheme)
    catalog.acquire_writer_lock("embed")
    params = {"sources": sources, "engine": engine.describe(), **asdict(options)}
    run_id = catalog.start_run("embed", params)
    result = EmbedResult(run_id)
    status = "failed"
    try:
        stats = scan(catalog, sources, run_id,
                     progress=(lambda _p: progress("scan", 1, None)) if progress else None)
        result.files_scanned, result.files_new, result.aliases_new = stats.seen, stats.new_files, stats.new_aliases
        embed_pending(catalog, engine, model.id, run_id, options, result, progress)
        status = "done"
    except KeyboardInterrupt:
        result.interrupted = True
        status = "interrupted"
    finally:
        result.error_reasons = dict(catalog.conn.execute(
            "SELECT error, COUNT(*) FROM files WHERE status = 'error' GROUP BY error").fetchall())
        result.errors = sum(result.error_reasons.values())
        catalog.finish_run(run_id, status, result.as_dict())
        catalog.release_writer_lock()
    return result


@dataclass
class _Decoded:
    file_id: int
    path: str
    image: object = None       # DecodedImage
    error: str | None = None


def embed_pending(catalog: Catalog, engine: FaceEngine, model_id: int, run_id: int,
                  options: EmbedOptions, result: EmbedResult,
                  progress: ProgressHook | None = None) -> None:
    pending = catalog.conn.execute(
        "SELECT id, path FROM files WHERE status = 'pending' ORDER BY id").fetchall()
    if progress:
        progress("embed", 0, len(pending))
    workers = options.workers or max(1, len(os.sched_getaffinity(0)))
    reduce_to = None  # full resolution: alignment needs the original pixels
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        for start in range(0, len(pending), options.batch_files):
            batch = pending[start:start + options.batch_files]
            decoded = list(pool.map(lambda r: _decode(r, reduce_to), batch))
            result.decoded += sum(1 for d in decoded if d.image is not None)
            rows = _process_batch(engine, decoded, options)
            _commit_batch(catalog, rows, model_id, run_id, options.input_mode, result)
            if progress:
                progress("embed", len(batch), None)


def _decode(row, reduce_to: int | None) -> _Decoded:
    item = _Decoded(row["id"], row["path"])
    try:
        item.image = read_image(row["path"], reduce_to=reduce_to)
    except DecodeError as exc:
        item.error = str(exc)
    return item


def _process_batch(engine: FaceEngine, decoded: list[_Decoded], options: EmbedOptions) -> list[dict]:
    """Detect per image, then embed every face of the batch in one recogniser call."""
    per_file, chips = [], []
    for item in decoded:
        entry = {"item": item, "faces": []}
        per_file.append(entry)
        if item.image is None:
            continue
        for det in _find_faces(engine, item.image, options):
            chip = det.pop("chip")
            det["sharpness"] = sharpness(chip)
            chips.append(chip)
            entry["faces"].append(det)
    vectors = engine.embed_chips(chips)
    k = 0
    for entry in per_file:
        for face in entry["faces"]:
            face["embedding"] = vectors[k]
            k += 1
    return per_file


def _find_faces(engine: FaceEngine, image, options: EmbedOptions) -> list[dict]:
    rgb, scale = image.rgb, image.scale
    if options.input_mode == "aligned":
        chip = cv2.resize(rgb, (engine.chip_size, engine.chip_size), interpolation=cv2.INTER_AREA)
        h, w = image.height, image.width
        return [{"box": np.array([0, 0, w, h], np.float32), "landmarks": None, "score": 1.0,
                 "short_edge": float(min(w, h)), "chip": chip}]
    detections = _detect_scaled(engine, rgb)
    faces = []
    for det in detections:
        short_edge = det.short_edge / scale
        if short_edge < options.min_face and options.input_mode == "photos":
            continue
        faces.append({"box": det.box / scale, "landmarks": det.landmarks / scale, "score": det.score,
                      "short_edge": short_edge, "chip": engine.align(rgb, det)})
    if options.input_mode == "crops":
        return faces  # the caller keeps the largest and records the count
    return faces


def _detect_scaled(engine: FaceEngine, rgb: np.ndarray) -> list[Detection]:
    """Detect on a copy no larger than the engine wants; coordinates back in `rgb` pixels."""
    long_side = max(rgb.shape[:2])
    if long_side <= engine.det_max_side:
        return engine.detect(rgb)
    factor = engine.det_max_side / long_side
    small = cv2.resize(rgb, (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor)),
                       interpolation=cv2.INTER_AREA)
    return [d.scaled(1.0 / factor) for d in engine.detect(small)]


def _commit_batch(catalog: Catalog, per_file: list[dict], model_id: int, run_id: int,
                  input_mode: str, result: EmbedResult) -> None:
    with catalog.transaction() as conn:
        for entry in per_file:
            item: _Decoded = entry["item"]
            if item.error is not None:
                conn.execute("UPDATE files SET status = 'error', error = ?, done_run = ? WHERE id = ?",
                             (item.error, run_id, item.file_id))
                continue
            faces = entry["faces"]
            found = len(faces)
            if input_mode == "crops":
                faces = faces[:1] if found == 1 else []
            conn.execute("DELETE FROM faces WHERE file_id = ? AND person_id IS NULL", (item.file_id,))
            for index, face in enumerate(faces):
                lm = face["landmarks"]
                conn.execute(
                    "INSERT OR REPLACE INTO faces(file_id, face_index, x1, y1, x2, y2, landmarks, det_score, "
                    "short_edge, sharpness, embedding, model_id, input_mode, created_run) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (item.file_id, index, *(float(v) for v in face["box"]),
                     to_blob(lm) if lm is not None else None, face["score"], face["short_edge"],
                     face["sharpness"], to_blob(face["embedding"]), model_id, input_mode, run_id))
            image = item.image
            if input_mode == "crops" and found != 1:
                status, error = "noface" if found == 0 else "multiface", None
            else:
                status, error = ("done" if faces else "noface"), None
            conn.execute(
                "UPDATE files SET status = ?, error = ?, width = ?, height = ?, taken_at = ?, model_id = ?, "
                "input_mode = ?, n_faces = ?, done_run = ? WHERE id = ?",
                (status, error, image.width, image.height, image.taken_at, model_id, input_mode,
                 found, run_id, item.file_id))
            result.embedded_files += 1
            result.faces += len(faces)
            result.no_face += int(not faces)
