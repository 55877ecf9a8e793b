"""From pending files to faces with embeddings, committed in small batches.

Every file goes through one function, `analyse_file` (embed.work): its bytes are read once and
hashed, then decoded (JPEGs in the DCT domain at the size the detector needs, or at full
resolution where the engine asks for it), its faces detected and aligned. Where that runs:
- on this machine, threads analyse ahead of the main thread. With an engine whose models thread
  themselves (insightface) the threads only decode, at a lower priority, and the main thread runs
  detector and recogniser one call at a time, the chips of a whole batch in one recogniser call.
  dlib holds the GIL, so with it worker processes analyse and embed a few files each
  (`analyse_batch`);
- on a Dask cluster (`EmbedOptions.cluster`), each task is `analyse_batch` over one batch
  (embed.dask_driver, embed.dask_worker).
Either way this process commits the batches in the order it handed them out, one transaction
each (embed.commit), and byte duplicates are resolved there, so every path gives the same
catalog: a kill -9 loses at most the batch in flight and a re-run resumes where it stopped.
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

from facesets.catalog import Catalog
from facesets.config import MIN_FACE
from facesets.embed.commit import commit_batch
from facesets.embed.work import FileWork, analyse_batch, analyse_file, detect_faces, embed_chips_of
from facesets.engines import EngineOptions, FaceEngine, load_engine
from facesets.scan import FileJob, scan
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
    cluster: ClusterOptions | None = None  # run the per-file work on a Dask cluster instead


@dataclass
class ClusterOptions:
    """Where embed's per-file work runs when it leaves this machine: a Dask cluster."""
    address: str                 # local, local:N (a LocalCluster here), tcp://HOST:PORT or tls://HOST:PORT
    path_map: tuple[tuple[str, str], ...] = ()  # (LOCAL, REMOTE) prefixes where workers mount the library
    tls_ca_file: str | None = None  # TLS (tls:// addresses); unset: Dask's own security config applies
    tls_cert: str | None = None
    tls_key: str | None = None


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
    if options.cluster is not None:  # the extra, the address, the certificates: before any work
        from facesets.embed.dask_driver import check_cluster
        check_cluster(options.cluster)
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
                result.files_scanned = stats.seen
                if catalog.files.has_pending() or stats.reread or catalog.embedding_model() is None:
                    # models load only when there is work: a re-run over an unchanged tree is a scan
                    engine = engine or load_engine(engine_options)
                    model = catalog.register_model(engine.engine, engine.model, engine.dim, engine.detector,
                                                   engine.landmark_scheme)
                    embed_pending(catalog, engine, model.id, run.id, options, result, progress, stats.reread)
            finally:
                result.error_reasons = catalog.files.error_reasons()
                result.errors = sum(result.error_reasons.values())
    except KeyboardInterrupt:
        result.interrupted = True
    return result


def embed_pending(catalog: Catalog, engine: FaceEngine, model_id: int, run_id: int,
                  options: EmbedOptions, result: EmbedResult,
                  progress: ProgressHook | None = None, reread: Iterable[FileJob] = ()) -> None:
    """Every pending file, and every embedded file the scan found changed (`reread`), analysed
    and committed in `batch_files` batches, in this order. Files are analysed (read, decoded,
    detected, aligned) ahead of the main thread, which embeds the chips of a batch in one
    recogniser call; engines that hold the GIL (dlib) analyse and embed in worker processes, and
    with `options.cluster` Dask workers do it all."""
    jobs = [FileJob.pending(row) for row in catalog.files.pending_files()] + list(reread)
    if progress:
        progress("embed", 0, len(jobs))
    commit = partial(commit_batch, catalog, model_id=model_id, run_id=run_id, input_mode=options.input_mode,
                     result=result)
    if options.cluster is not None:
        from facesets.embed.dask_driver import embed_on_cluster
        embed_on_cluster(engine, jobs, options, commit, progress)
        return
    workers = options.workers or default_workers()
    maker = engine.maker() if engine.holds_gil and workers > 1 and len(jobs) >= PROCESS_MIN_FILES else None
    if maker is not None:
        analysed = _analysed_in_processes(maker, jobs, options, workers)
    else:
        analysed = _analysed_in_threads(engine, jobs, options, workers)
    batch: list[FileWork] = []
    with closing(analysed):
        for work in analysed:
            if work.image is not None:  # decoded only: this engine's models run here
                detect_faces(work, engine, options)
            batch.append(work)
            if len(batch) >= options.batch_files:
                _finish_batch(engine, batch, commit, progress)
                batch = []
        if batch:
            _finish_batch(engine, batch, commit, progress)


def _analysed_in_threads(engine: FaceEngine, jobs: list[FileJob], options: EmbedOptions, workers: int):
    """Threads decode (and detect and align, unless the engine's models thread themselves: then
    they only decode and every model call stays on the main thread, one at a time)."""
    detect = not engine.threaded_models
    initializer = _yield_to_models if engine.threaded_models else None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyse", initializer=initializer) as pool, \
            _switch_interval(GIL_SWITCH_SECONDS if engine.threaded_models else None):
        yield from _ahead(pool, lambda job: analyse_file(job, engine, options, detect), jobs, _depth(workers))


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


def _analysed_in_processes(maker, jobs: list[FileJob], options: EmbedOptions, workers: int):
    """Each worker process analyses a few files and embeds their chips itself: only boxes,
    landmarks and embeddings come back."""
    chunks = [jobs[i:i + PROCESS_CHUNK] for i in range(0, len(jobs), PROCESS_CHUNK)]
    pool = engine_pool(maker, workers)
    try:
        for works in _ahead(pool, partial(_analyse_and_embed, options=options), chunks, _depth(workers)):
            yield from works
    finally:  # an interrupt or a failed commit: drop what is queued, let the running chunks end
        pool.shutdown(wait=True, cancel_futures=True)


def _analyse_and_embed(jobs: list[FileJob], options: EmbedOptions) -> list[FileWork]:
    return analyse_batch(jobs, worker_engine(), options)


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


def _finish_batch(engine: FaceEngine, batch: list[FileWork], commit, progress) -> None:
    embed_chips_of(engine, batch)
    commit(batch)
    if progress:
        progress("embed", len(batch), None)
