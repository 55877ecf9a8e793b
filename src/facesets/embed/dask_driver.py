"""Embed on a Dask cluster. This process, the driver, holds the catalog: it scans, hands out
batches of files, and commits what comes back as the only writer, in the order it handed the
batches out, so file ids, face ids and aliases are those of a run on one machine.

`local` or `local:N` starts a LocalCluster here (N worker processes of one thread each, default
one per core); `tcp://HOST:PORT` or `tls://HOST:PORT` joins a running scheduler, whose workers
read the files by path on a shared file system (`path_map` where they mount it elsewhere).
Faults: a task lost with its worker is run again by Dask; a batch that keeps killing workers is
split into single files, and a file that still kills one is recorded as an error; Ctrl-C
cancels what is queued and keeps what is committed, and a re-run resumes.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import socket
from collections import deque
from contextlib import contextmanager, suppress
from functools import partial
from typing import Callable

from facesets.embed.work import FileWork
from facesets.media.decode import one_line
from facesets.scan import FileJob

log = logging.getLogger("facesets")
EXTRA = "pip install 'facesets[cluster]'"
CRASHED = "worker crashed while reading it"
WAIT_FOR_WORKERS_S = 60     # a scheduler without workers: how long to wait for the first one
CONNECT_TIMEOUT_S = 30
LOCAL_ALLOWED_FAILURES = 1  # a task is retried once after its worker died, then split (LocalCluster)
_warned_plain: set[str] = set()


class ClusterError(RuntimeError):
    """The cluster cannot do the work (one-line, user-facing reason)."""


def check_cluster(cluster) -> None:
    """Before any work: the extra is installed, the address and TLS settings make sense."""
    _distributed()
    address = cluster.address
    if address == "local" or address.startswith("local:"):
        _local_workers(address)
        return
    scheme, sep, rest = address.partition("://")
    if not sep or not rest:
        raise ClusterError(f"--cluster {address}: expected local, local:N, tcp://HOST:PORT or tls://HOST:PORT")
    tls = [path for path in (cluster.tls_ca_file, cluster.tls_cert, cluster.tls_key) if path]
    if tls and scheme != "tls":
        raise ClusterError(f"TLS certificates given for {address}: use tls://{rest}")
    if tls and len(tls) != 3:
        raise ClusterError("TLS needs all three of --tls-ca-file, --tls-cert and --tls-key")
    missing = [path for path in tls if not os.path.isfile(path)]
    if missing:
        raise ClusterError(f"no such TLS file: {', '.join(missing)}")


def embed_on_cluster(engine, jobs: list[FileJob], options, commit: Callable[[list[FileWork]], None],
                     progress=None) -> None:
    """Every job analysed on the cluster `options.cluster`, committed batch by batch in order."""
    check_cluster(options.cluster)
    from distributed.scheduler import KilledWorker

    from facesets.embed.dask_worker import WorkerRefused

    with connect(options.cluster) as client:
        plugin = accept_workers(client, engine, options.cluster.path_map,
                                xmp=options.read_xmp and options.input_mode == "photos")
        submit = partial(_submit, client, options, plugin)
        meter = _Meter(client, progress)
        try:
            _commit_in_order(client, submit, jobs, options.batch_files, commit, meter, KilledWorker)
        except WorkerRefused as exc:  # one that joined after the check
            raise ClusterError(str(exc)) from None


def _commit_in_order(client, submit, jobs, batch_files: int, commit, meter, killed) -> None:
    """Batches in flight ahead of the commits (every worker thread busy, one more in hand
    each), committed in the order they were handed out."""
    batches = iter([jobs[i:i + batch_files] for i in range(0, len(jobs), batch_files)])
    queue: deque = deque()

    def fill() -> None:
        depth = 2 * max(1, sum(client.nthreads().values()))
        while len(queue) < depth:
            batch = next(batches, None)
            if batch is None:
                return
            queue.append((batch, submit(batch)))

    def settle() -> None:   # every batch in flight finished or failed (results kept for their commit)
        from distributed import wait
        from distributed.client import FuturesCancelledError

        with suppress(FuturesCancelledError):   # a cancelled one fails at its own turn
            wait([future for _, future in queue])

    try:
        fill()
        while queue:
            batch, future = queue.popleft()
            works = _results(submit, batch, future, killed, settle)
            fill()
            commit(works)
            meter.committed(works)
    finally:  # Ctrl-C or a failure: what is queued is cancelled, what is committed stays
        client.cancel([future for _, future in queue])


def _results(submit, batch: list[FileJob], future, killed, settle) -> list[FileWork]:
    """A batch's works. One that kept killing its workers is retried file by file. A worker that
    dies takes down the tasks queued on it too, innocent ones, so a file becomes an error only
    if it kills a worker again when it runs alone, the other tasks settled; the run goes on."""
    try:
        return future.result()
    except killed:
        if len(batch) > 1:
            return [work for job in batch for work in _results(submit, [job], submit([job]), killed, settle)]
        settle()
        try:
            return submit(batch).result()
        except killed:
            return [FileWork(batch[0], error=CRASHED)]


def _submit(client, options, plugin: str, batch: list[FileJob]):
    from facesets.embed.dask_worker import analyse_on_worker

    return client.submit(analyse_on_worker, batch, options, plugin, options.cluster.path_map, pure=False)


def accept_workers(client, engine, path_map, xmp: bool = False) -> str:
    """The engine plugin registered on every worker (and on every one that joins or restarts
    later); returns its name. Every worker must hold the driver's engine (and, with `xmp`, read
    XMP face regions as the driver would): the first one that does not is named, with the
    difference, in a one-line error."""
    from facesets.embed.dask_worker import EngineHost, identity, refusal

    expected, options = identity(engine, xmp), _worker_options(engine, path_map)
    key = hashlib.sha256(json.dumps([expected, repr(options)], sort_keys=True).encode()).hexdigest()[:12]
    plugin = f"facesets-engine-{key}"  # one per engine and settings: drivers sharing a scheduler keep theirs
    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
    except TimeoutError:
        raise ClusterError(f"no worker joined the scheduler within {WAIT_FOR_WORKERS_S} s") from None
    client.register_plugin(EngineHost(options, expected), name=plugin)
    refused = sorted((address, why) for address, why in client.run(refusal, plugin).items() if why)
    if refused:
        (address, why), more = refused[0], len(refused) - 1
        raise ClusterError(f"worker {address} refused: {why}" + (f" (and {more} more)" if more else ""))
    return plugin


def _worker_options(engine, path_map):
    """The driver's engine as workers load it: its model files where they mount them."""
    from dataclasses import replace

    from facesets.embed.dask_worker import mapped

    options = engine.options()
    return replace(options, models=options.models and mapped(options.models, path_map),
                   yunet_model=options.yunet_model and mapped(options.yunet_model, path_map))


class _Meter:
    """Progress beyond files: faces committed, and workers alive (of the most seen)."""

    def __init__(self, client, progress):
        self.client, self.progress, self.alive, self.most = client, progress, 0, 0
        self._workers()

    def committed(self, works: list[FileWork]) -> None:
        if self.progress:
            self.progress("embed", len(works), None)
            self.progress("faces", sum(len(w.faces) for w in works), None)
            self._workers()

    def _workers(self) -> None:
        if not self.progress:
            return
        alive = len(self.client.nthreads())
        self.most = max(self.most, alive)
        self.progress("workers alive", alive - self.alive, self.most)
        self.alive = alive


@contextmanager
def connect(cluster):
    """A Dask client for `cluster` (ClusterOptions); a LocalCluster lives as long as the client."""
    from distributed import Client, LocalCluster

    address = cluster.address
    with _quiet_dask():
        if address == "local" or address.startswith("local:"):
            import dask

            with dask.config.set({"distributed.scheduler.allowed-failures": LOCAL_ALLOWED_FAILURES}):
                local = LocalCluster(n_workers=_local_workers(address), threads_per_worker=1, processes=True,
                                     dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},  # a free port
                                     silence_logs=logging.CRITICAL)
            try:
                with Client(local) as client:
                    yield client
            finally:
                local.close()
            return
        security = _security(cluster)
        _warn_if_plain(address)
        try:
            client = Client(address, security=security, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {one_line(str(exc)) or type(exc).__name__}") from None
        with client:
            yield client


@contextmanager
def _quiet_dask():
    """Dask's own log lines (workers starting, restarting, tasks retried) stay off the console:
    what the user needs to know is said once on the facesets logger."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _local_workers(address: str) -> int:
    count = address.partition(":")[2]
    if not count:
        from facesets.workers import default_workers
        return default_workers()
    if not count.isdigit() or int(count) < 1:
        raise ClusterError(f"--cluster {address}: expected local:N with N a number of workers")
    return int(count)


def _security(cluster):
    """Dask TLS settings from the certificate files; none given: Dask's own security config."""
    if not cluster.tls_ca_file:
        return None
    from distributed.security import Security

    return Security(tls_ca_file=cluster.tls_ca_file, tls_client_cert=cluster.tls_cert,
                    tls_client_key=cluster.tls_key, require_encryption=True)


def _warn_if_plain(address: str) -> None:
    """Once per address: a Dask scheduler runs any code its clients send, and plain tcp:// is
    neither encrypted nor authenticated."""
    if not address.startswith("tcp://") or address in _warned_plain or _is_loopback(address):
        return
    _warned_plain.add(address)
    log.warning(f"{address}: plain tcp://, unencrypted and unauthenticated, and a Dask scheduler runs any code "
                "its clients send: keep it on a private network, or use tls:// with --tls-ca-file/--tls-cert/--tls-key")


def _is_loopback(address: str) -> bool:
    host = address.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--cluster needs Dask distributed: {EXTRA}") from None
    return distributed
