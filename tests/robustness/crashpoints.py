"""Crash points for the SIGKILL test: every catalog write statement and every output write is
an event; in trace mode each event is logged with the stage it happens in, in kill mode the
process SIGKILLs itself at event N (exactly what a power cut at that instant does to us).

The stage is the command of the last run the catalog started (`Catalog.start_run`).
"""
from __future__ import annotations

import builtins
import io
import os
import shutil
import signal
import threading
import zipfile

_state = {"n": 0, "stage": "start", "kill_at": 0, "fd": None}
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


def install(trace_path: str | None, kill_at: int) -> None:
    from facesets.catalog import Catalog

    _state["kill_at"] = kill_at
    if trace_path:
        _state["fd"] = os.open(trace_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    original_open = Catalog.open.__func__

    def open_traced(cls, *args, **kwargs):
        catalog = original_open(cls, *args, **kwargs)
        catalog.conn.set_trace_callback(_trace_sql)
        return catalog

    Catalog.open = classmethod(open_traced)
    original_start = Catalog.start_run

    def start_run(self, command, params):
        _state["stage"] = command
        return original_start(self, command, params)

    Catalog.start_run = start_run
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
