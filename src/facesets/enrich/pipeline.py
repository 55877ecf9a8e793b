"""enrich: dense landmarks and head pose for the faces that matter, then their quality.

Only faces that belong to people are enriched by default (the rest never reach an export).
Faces are processed file by file in batches; each batch is one transaction, so an
interrupted run loses at most the batch in flight and the next run picks up the rest
(`faces.enriched_run IS NULL`).
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from facesets.catalog import Catalog, CatalogError
from facesets.enrich.landmarks import load_landmarker
from facesets.enrich.pose import solve_pose
from facesets.enrich.quality import score_rows
from facesets.media import DecodeError, read_source

ProgressHook = Callable[[str, int, int | None], None]  # (phase, advance, total)

MIN_FACE_DECODED = 100  # photos are decoded reduced (JPEG DCT draft) while their smallest face keeps this short edge


def enrich(catalog: Catalog, progress: ProgressHook | None = None, batch: int = 64,
           only_people: bool = True, models: str | None = None, device: str = "auto",
           workers: int = 2) -> dict:
    """Persist dense landmarks and pitch/yaw/roll of faces not yet enriched, and score them.

    Returns stats: enriched, failed (unreadable photo), faces_per_s, run_id, interrupted.
    """
    model = catalog.embedding_model()
    if model is None:
        raise CatalogError(f"{catalog.path} holds no faces yet: run facesets embed first")
    landmarker = load_landmarker(model.engine, model.model, models, device)
    params = {"only_people": only_people, "batch": batch, "landmarker": landmarker.name}
    stats = {"run_id": None, "landmarker": landmarker.name, "todo": 0, "enriched": 0,
             "failed": 0, "failed_files": 0, "interrupted": False}
    started = time.perf_counter()
    try:
        with catalog.stage("enrich", params) as run:
            stats["run_id"], run.stats = run.id, stats
            try:
                todo = catalog.faces.to_enrich(only_people)
                frames = catalog.faces.frames_of(f.id for f in todo)   # faces seen in videos
                stats["todo"] = len(todo)
                if progress:
                    progress("enrich", 0, len(todo))
                with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="enrich-decode") as pool:
                    for chunk in _file_batches(todo, batch, frames):
                        results, failed_files = _process(landmarker, chunk, pool, frames)
                        with catalog.transaction():
                            catalog.faces.set_enrichment(results, run.id)
                            score_rows(catalog, [fid for fid, _, _ in results])
                        stats["enriched"] += len(results)
                        stats["failed"] += sum(len(faces) for faces in failed_files)
                        stats["failed_files"] += len(failed_files)
                        if progress:
                            progress("enrich", sum(len(faces) for faces in chunk), None)
            except KeyboardInterrupt:
                stats["interrupted"] = True
                raise
            finally:
                elapsed = time.perf_counter() - started
                stats["seconds"] = round(elapsed, 3)
                stats["faces_per_s"] = round(stats["enriched"] / elapsed, 2) if elapsed > 0 else None
    except KeyboardInterrupt:
        pass   # what was committed stays; the run says interrupted
    return stats


def _file_batches(rows: list, size: int, frames: dict | None = None) -> list[list[list]]:
    """Batches of about `size` faces, each a list of per-file face lists (a file, or a video's
    frame, is never split)."""
    frames = frames or {}
    files: list[list] = []
    for row in rows:
        if files and files[-1][0].file_id == row.file_id and frames.get(files[-1][0].id) == frames.get(row.id):
            files[-1].append(row)
        else:
            files.append([row])
    batches, current, count = [], [], 0
    for faces in files:
        current.append(faces)
        count += len(faces)
        if count >= size:
            batches.append(current)
            current, count = [], 0
    if current:
        batches.append(current)
    return batches


def _decode(faces: list, frame=None):
    """The photo at a resolution that keeps every face of it at least MIN_FACE_DECODED px (or
    the video frame the faces were seen in)."""
    first = faces[0]
    long_side = max(first.width or 0, first.height or 0)
    smallest = max(1.0, min(float(f.short_edge) for f in faces))
    reduce_to = math.ceil(long_side * MIN_FACE_DECODED / smallest)
    reduce_to = reduce_to if 0 < reduce_to < long_side else None
    try:
        return read_source(first.path, frame, reduce_to=reduce_to)
    except DecodeError:
        return None


def _process(landmarker, chunk: list[list], pool, frames: dict | None = None) -> tuple[list, list]:
    """[(face id, dense points in original px, (pitch, yaw, roll))], [faces of unreadable files]."""
    frames = frames or {}
    results, failed = [], []
    for faces, image in zip(chunk, pool.map(lambda faces: _decode(faces, frames.get(faces[0].id)), chunk)):
        if image is None:
            failed.append(faces)
            continue
        for face in faces:
            box = np.array(face.box, np.float64) * image.scale
            dense, pose = landmarker.locate(image.rgb, box)
            dense = (np.asarray(dense, np.float64) / image.scale).astype(np.float32)
            if pose is None:
                pose = solve_pose(dense, landmarker.scheme, (image.width, image.height))
            results.append((face.id, dense, pose if pose is not None else (None, None, None)))
    return results, failed
