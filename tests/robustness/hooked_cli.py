"""`facesets` with test hooks, chosen by environment variables (tests only):

FACESETS_TEST_VANISH=SUFFIX   delete a file ending in SUFFIX right after the scan recorded it,
                              i.e. between scan and the read that hashes and decodes it
FACESETS_TEST_PEAK_FILE=PATH  write the process's peak resident memory (bytes) there at exit
FACESETS_TEST_TRACE=PATH      append one line per crash-test event (stage, kind)
FACESETS_TEST_KILL_AT=N       SIGKILL this process at crash-test event number N (1-based)
FACESETS_TEST_PAUSE=P1,P2     pause at these points in turn (stage:NAME, done:N; see crashpoints.py)
FACESETS_TEST_PAUSE_FLAG=PATH a paused process writes PATH.paused and waits for PATH.resume
FACESETS_TEST_DISK_FULL=K     a full disk: writes to files whose path contains ".staging" fail
                              with OSError(ENOSPC) once K bytes have gone into such files
"""
from __future__ import annotations

import atexit
import errno
import os
import resource
import sys


def _vanish_hook(suffix: str) -> None:
    import facesets.scan.walk as walk

    original = walk._scan_one

    def scan_then_vanish(catalog, path, *args):
        original(catalog, path, *args)
        if path.endswith(suffix):
            os.unlink(path)

    walk._scan_one = scan_then_vanish


def _peak_hook(path: str) -> None:
    def write_peak():
        with open(path, "w") as handle:
            handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
    atexit.register(write_peak)


class _Full:
    """A file opened for writing in the staging folder, on a disk with `room` bytes left."""

    def __init__(self, handle, room: list):
        self._handle, self._room = handle, room

    def write(self, data):
        size = len(memoryview(data).cast("B")) if not isinstance(data, str) else len(data.encode())
        if size > self._room[0]:
            self._room[0] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room[0] -= size
        return self._handle.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __iter__(self):
        return iter(self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()
        return False


def _disk_full_hook(room_bytes: int) -> None:
    import builtins
    import io
    import shutil

    room = [room_bytes]
    shutil._USE_CP_SENDFILE = False  # copies go through write(), where the disk fills up
    for owner in (builtins, io):
        original = owner.open

        def open_on_full_disk(file, mode="r", *args, _original=original, **kwargs):
            handle = _original(file, mode, *args, **kwargs)
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if writing and isinstance(file, (str, bytes, os.PathLike)) and ".staging" in os.fsdecode(file):
                return _Full(handle, room)
            return handle

        owner.open = open_on_full_disk


def main() -> None:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)   # a hung test asks for the stacks
    # Ctrl-C as a terminal gives it: a pytest-xdist worker runs with SIGINT ignored and its
    # children inherit that, so Python would install no KeyboardInterrupt handler here
    signal.signal(signal.SIGINT, signal.default_int_handler)
    env = os.environ
    if env.get("FACESETS_TEST_VANISH"):
        _vanish_hook(env["FACESETS_TEST_VANISH"])
    if env.get("FACESETS_TEST_PEAK_FILE"):
        _peak_hook(env["FACESETS_TEST_PEAK_FILE"])
    if env.get("FACESETS_TEST_DISK_FULL"):
        _disk_full_hook(int(env["FACESETS_TEST_DISK_FULL"]))
    if env.get("FACESETS_TEST_TRACE") or env.get("FACESETS_TEST_KILL_AT") or env.get("FACESETS_TEST_PAUSE"):
        import crashpoints

        crashpoints.install(env.get("FACESETS_TEST_TRACE"), int(env.get("FACESETS_TEST_KILL_AT") or 0),
                            env.get("FACESETS_TEST_PAUSE", ""), env.get("FACESETS_TEST_PAUSE_FLAG"))
    from facesets.cli.main import app

    sys.argv[0] = "facesets"
    app()


if __name__ == "__main__":
    main()
