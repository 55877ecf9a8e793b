"""Worker processes that each hold their own face engine.

dlib's calls hold the GIL, so threads running it take turns on one core; a process per core,
each with its own models, uses them all. Export's crop check and embed's analysis share this.
Workers ignore Ctrl-C (the parent decides what an interrupt means and commits what is done)
and exit on their own when the parent is killed.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

_engine = None


def engine():
    """This worker's engine (built once by the pool's initializer)."""
    return _engine


def engine_pool(make_engine, workers: int) -> ProcessPoolExecutor:
    """`workers` spawned processes, each building its engine with the picklable `make_engine`."""
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                               initializer=_start, initargs=(make_engine,))


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _start(make_engine) -> None:
    global _engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent()
    try:  # one process per core already: OpenCV's own thread pool would oversubscribe
        import cv2
        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    _engine = make_engine()


def _watch_parent() -> None:
    """Exit when the parent is gone: a worker holds both ends of its task queue, so after a
    SIGKILL (or OOM kill) of the parent it would otherwise wait forever, holding a model."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="facesets-parent-watch", daemon=True).start()
