"""What runs on a Dask worker: the engine, loaded once per worker by a `WorkerPlugin` with its
threads sized to the worker's, and the task that analyses and embeds one batch of files.

A worker whose facesets version, engine, model or weights differ from the driver's keeps no
engine and is refused: the driver checks every worker before it hands out any work and stops
with one line naming the worker and the difference, and a task reaching a refused worker that
joined later stops the run the same way (what is committed stays). Only this module imports
Dask on a worker; the driver imports it once it knows the `cluster` extra is installed.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
from contextlib import nullcontext
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from distributed import WorkerPlugin, get_worker

from facesets.config import VERSION, models_dirs, worker_crash_file_for_tests
from facesets.embed.work import FileWork, analyse_batch
from facesets.engines import EngineOptions, EngineUnavailable, FaceEngine, load_engine
from facesets.media import fs_path, sha256_file
from facesets.media.xmp import xmp_readable
from facesets.scan import FileJob


class WorkerRefused(RuntimeError):
    """A task reached a worker that holds no engine (one line: the worker and why)."""


def identity(engine: FaceEngine, xmp: bool = False) -> dict:
    """What must be equal on the driver and every worker for their faces to be one catalog's
    (with `xmp`, whether XMP face regions can be read: workers read them)."""
    found = {"facesets": VERSION, "engine": engine.engine, "model": engine.model, "detector": engine.detector,
             "weights": {Path(p).name: _file_sha256(str(p)) for p in engine.weight_files()}}
    if xmp:
        found["xmp"] = xmp_readable()
    return found


@lru_cache(maxsize=16)
def _file_sha256(path: str) -> str:
    return sha256_file(path)


def difference(worker: dict, driver: dict) -> str | None:
    """The first way a worker's engine differs from the driver's, in words; None: none."""
    for key in ("facesets", "engine", "model", "detector"):
        if worker[key] != driver[key]:
            return f"{key} {worker[key]} there, {driver[key]} here"
    for name in sorted(set(worker["weights"]) | set(driver["weights"])):
        there, here = worker["weights"].get(name), driver["weights"].get(name)
        if there is None:
            return f"weights {name} missing there"
        if here is None:
            return f"weights {name} there, not used here"
        if there != here:
            return f"weights {name} differ (sha256 {there[:12]}… there, {here[:12]}… here)"
    if "xmp" in driver and worker.get("xmp") != driver["xmp"]:   # workers read the regions: names would differ
        return "the xmp extra (pyexiv2) missing there" if driver["xmp"] else "the xmp extra (pyexiv2) there, not here"
    return None


class EngineHost(WorkerPlugin):
    """One engine per worker process, loaded when the worker starts or joins (and again after
    a restart). Model calls of an engine whose models thread themselves take turns (`models`),
    with as many threads each as the worker has; decoding runs in every worker thread."""

    idempotent = True  # registered again by the next run of the same driver: the engine stays loaded

    def __init__(self, engine_options: EngineOptions, expected: dict):
        self.engine_options, self.expected = engine_options, expected
        self.engine: FaceEngine | None = None
        self.refusal: str | None = None
        self.models = nullcontext()

    async def setup(self, worker) -> None:
        """Runs before the worker takes any task (Dask finishes its plugins' setup first)."""
        loop = asyncio.get_running_loop()
        self.refusal = await loop.run_in_executor(None, self._load, worker.state.nthreads)

    def teardown(self, worker) -> None:
        self.engine = None

    def _load(self, nthreads: int) -> str | None:
        """Loads the engine; returns why this worker is refused, or None."""
        size_threads(nthreads)
        options = replace(self.engine_options, threads=nthreads, download=False)
        try:
            engine = load_engine(options)
        except EngineUnavailable as exc:
            if options.engine == "insightface":  # say where this machine looked
                looked = ", ".join(str(folder / options.pack) for folder in models_dirs(options.models))
                return f"{exc} (looked in {looked})"
            return str(exc)
        differs = difference(identity(engine, xmp="xmp" in self.expected), self.expected)
        if differs:
            return differs
        self.engine = engine
        self.models = threading.Lock() if engine.threaded_models and nthreads > 1 else nullcontext()
        return None


def size_threads(nthreads: int) -> None:
    """OpenCV and BLAS get this worker's threads, not the machine's cores (ONNX Runtime gets
    them through EngineOptions.threads): several workers share a machine."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(nthreads)
    threadpool_limits(nthreads)


def refusal(plugin: str, dask_worker=None) -> str | None:
    """Run on each worker by the driver: why it holds no engine, or None."""
    host = dask_worker.plugins.get(plugin)
    if host is None:
        return "the facesets engine plugin did not start there"
    return None if host.engine is not None else (host.refusal or "its engine is not loaded")


def analyse_on_worker(jobs: list[FileJob], options, plugin: str,
                      path_map: tuple[tuple[str, str], ...] = ()) -> list[FileWork]:
    """One task: a batch of files read where this worker mounts them, hashed, decoded, detected,
    aligned and embedded. Only small records go back: boxes, landmarks, scores, sharpness,
    embeddings, sizes, dates, hashes; never pixels."""
    worker = get_worker()
    host = worker.plugins.get(plugin)
    if host is None or host.engine is None:
        raise WorkerRefused(f"worker {worker.address} refused: {refusal(plugin, worker)}")
    _crash_for_tests(jobs)
    return analyse_batch(jobs, host.engine, options, models=host.models,
                         source=lambda job: mapped(fs_path(job.path), path_map))


def mapped(path: str, path_map: tuple[tuple[str, str], ...]) -> str:
    """`path` where a worker mounts it: the first LOCAL prefix in `path_map` replaced by its REMOTE."""
    for local, remote in path_map:
        local = local.rstrip("/")
        if path == local or path.startswith(local + "/"):
            return remote.rstrip("/") + path[len(local):]
    return path


def _crash_for_tests(jobs: list[FileJob]) -> None:
    """The test hook (FACESETS_TEST_WORKER_CRASH): a batch holding that file kills this worker
    process, as a decoder crash on a malformed file would."""
    name = worker_crash_file_for_tests()
    if name and any(os.path.basename(fs_path(job.path)) == name for job in jobs):
        os.kill(os.getpid(), signal.SIGKILL)
