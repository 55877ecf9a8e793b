"""Long actions started from the browser (export, re-cluster) run in a background thread with
their own catalog connection and the writer lock, one at a time, and report progress that the
page polls. The request that starts one returns at once; a job that fails says why on the page
(and, for an unexpected error, with its traceback on the "facesets" logger)."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from facesets.catalog import Catalog, CatalogError

log = logging.getLogger("facesets")


@dataclass
class Job:
    id: int
    kind: str
    status: str = "running"            # running | done | failed
    phase: str = ""
    done: int = 0
    total: int | None = None
    message: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    detail: str = ""                   # what it works on (an export's folder)

    def as_dict(self) -> dict:
        return asdict(self)


class Jobs:
    def __init__(self, catalog_path: Path):
        self.catalog_path = catalog_path
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def latest(self, kind: str) -> Job | None:
        jobs = [j for j in self._jobs.values() if j.kind == kind]
        return jobs[-1] if jobs else None

    def running(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.status == "running"), None)

    def start(self, kind: str, work: Callable[[Catalog, Callable], object], detail: str = "") -> Job:
        """Run work(catalog, progress_hook) in a thread; refuses while another job runs."""
        with self._lock:
            busy = self.running()
            if busy is not None:
                raise RuntimeError(f"{busy.kind} is still running (job {busy.id})")
            job = Job(next(self._ids), kind, detail=detail)
            self._jobs[job.id] = job
        thread = threading.Thread(target=self._run, args=(job, work), name=f"facesets-{kind}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def _run(self, job: Job, work) -> None:
        def hook(phase: str, advance: int = 0, total: int | None = None) -> None:
            if phase != job.phase:
                job.phase, job.done = phase, 0
            if total is not None:
                job.total = total
            job.done += advance or 0

        try:
            with Catalog.open(self.catalog_path, create=False, migrate=False) as catalog, \
                    catalog.writer(f"serve: {job.kind}"):
                result = work(catalog, hook)
            job.message = _summary(result)
            job.status = "done"
        except (CatalogError, ValueError, RuntimeError, OSError) as exc:
            job.message, job.status = str(exc).splitlines()[0] if str(exc) else type(exc).__name__, "failed"
        except Exception as exc:  # noqa: BLE001 - a failing job is reported on the page, not fatal
            log.exception("serve: %s job %d failed", job.kind, job.id)
            job.message, job.status = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            job.finished = time.time()

    def wait(self, timeout: float | None = None) -> None:
        for thread in list(self._threads):
            thread.join(timeout)


def _summary(result) -> str:
    if result is None:
        return "finished"
    if isinstance(result, dict):
        return ", ".join(f"{k} {v}" for k, v in result.items() if not isinstance(v, (dict, list)))[:300]
    for attr in ("as_dict", "__dict__"):
        value = getattr(result, attr, None)
        if value is not None:
            data = value() if callable(value) else value
            if isinstance(data, dict):
                return _summary(data)
    return str(result)[:300]
