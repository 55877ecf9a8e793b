"""Crash and pause points. Every catalog write statement and every output write is an event;
in trace mode each event is logged with the stage it happens in, in kill mode the process
SIGKILLs itself at event N (exactly what a power cut at that instant does to us).

Pause points stop the process where a test needs it to be, instead of hoping it is slow enough:
`stage:NAME` pauses when a stage NAME is about to start (the writer lock held, no transaction
open), `done:N` after the first committed transaction that leaves N files embedded. A paused
process writes `<flag>.paused` (holding the point's name) and waits for `<flag>.resume`.

The stage is the command of the last run the catalog started (`RunsRepo.start`).
"""
from __future__ import annotations

import builtins
import contextlib
import io
import os
import shutil
import signal
import threading
import time
import zipfile
from pathlib import Path

_state = {"n": 0, "stage": "start", "kill_at": 0, "fd": None, "pauses": [], "flag": None}
_lock = threading.Lock()
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "COMMIT")


def event(kind: str) -> None:
    with _lock:
        _state["n"] += 1
        n = _state["n"]
        if _state["fd"] is not None:
            os.write(_state["fd"], f"{n}\t{_state['stage']}\t{kind}\n".encode())
    if n == _state["kill_at"]:
        os.kill(os.getpid(), signal.SIGKILL)


def _trace_sql(statement: str) -> None:
    head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    if head in _WRITES:
        event(f"sql {head}")


def _wrap(owner, name: str, kind: str, writes_only=None, named: bool = False) -> None:
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if writes_only is None or writes_only(args, kwargs):
            event(f"{kind} {os.path.basename(os.fsdecode(args[0]))}" if named and args else kind)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def _opens_for_writing(args, kwargs) -> bool:
    mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
    return isinstance(mode, str) and any(c in mode for c in "wax+")


def pause(point: str) -> None:
    """Stop here until the test says resume (see the module docstring)."""
    flag = Path(_state["flag"])
    resume = flag.with_name(flag.name + ".resume")
    paused = flag.with_name(flag.name + ".paused")
    paused.write_text(point)
    while not resume.exists():
        time.sleep(0.02)
    resume.unlink()
    paused.unlink()


def _due(kind: str, catalog=None) -> str | None:
    """The next pause point, if it is of `kind` and reached now."""
    if not _state["pauses"]:
        return None
    point = _state["pauses"][0]
    name, _, value = point.partition(":")
    if name != kind:
        return None
    if kind == "done" and catalog is not None:
        from facesets.catalog.schema import SCHEMA_VERSION

        if catalog._conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            return None   # still migrating: no files table to count yet
        counts = catalog.counts()
        if counts["files"] - counts["pending"] < int(value):
            return None
    _state["pauses"].pop(0)
    return point


def install(trace_path: str | None, kill_at: int, pauses: str = "", flag: str | None = None) -> None:
    from facesets.catalog import Catalog
    from facesets.catalog.runs import RunsRepo

    _state["kill_at"] = kill_at
    _state["pauses"] = [p for p in pauses.split(",") if p]
    _state["flag"] = flag
    if trace_path:
        _state["fd"] = os.open(trace_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    original_open = Catalog.open.__func__

    def open_traced(cls, *args, **kwargs):
        catalog = original_open(cls, *args, **kwargs)
        catalog._conn.set_trace_callback(_trace_sql)
        return catalog

    Catalog.open = classmethod(open_traced)
    original_start = RunsRepo.start

    def start_run(self, command, params):
        if _state["pauses"] and _state["pauses"][0] == f"stage:{command}":
            pause(_state["pauses"].pop(0))
        _state["stage"] = command
        return original_start(self, command, params)

    RunsRepo.start = start_run
    original_transaction = Catalog.transaction

    @contextlib.contextmanager
    def transaction(self):
        outermost = not self._conn.in_transaction
        with original_transaction(self) as catalog:
            yield catalog
        if outermost:
            point = _due("done", self)
            if point:
                pause(point)

    Catalog.transaction = transaction
    _wrap(builtins, "open", "open for writing", _opens_for_writing)
    _wrap(io, "open", "open for writing", _opens_for_writing)  # pathlib opens through io.open
    for name in ("replace", "rename", "link", "symlink"):
        _wrap(os, name, f"os.{name}", named=name in ("replace", "rename"))  # which file moves
    for name in ("copy2", "copyfile", "rmtree", "move"):
        _wrap(shutil, name, f"shutil.{name}")
    _wrap(zipfile.ZipFile, "writestr", "zip member")
    _wrap(zipfile.ZipFile, "write", "zip member")
    try:
        from PIL import Image

        _wrap(Image.Image, "save", "image save")
    except ImportError:  # pragma: no cover
        pass
