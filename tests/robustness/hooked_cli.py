"""`facesets` with test hooks, chosen by environment variables (tests only):

FACESETS_TEST_VANISH=SUFFIX   delete a file ending in SUFFIX right after the scan hashed it,
                              i.e. between scan and decode
FACESETS_TEST_PEAK_FILE=PATH  write the process's peak resident memory (bytes) there at exit
FACESETS_TEST_TRACE=PATH      append one line per crash-test event (stage, kind)
FACESETS_TEST_KILL_AT=N       SIGKILL this process at crash-test event number N (1-based)
"""
from __future__ import annotations

import atexit
import os
import resource
import signal
import sys


def _vanish_hook(suffix: str) -> None:
    import facesets.scan.walk as walk

    original = walk.sha256_of

    def hash_then_vanish(path):
        digest = original(path)
        if path.endswith(suffix):
            os.unlink(path)
        return digest

    walk.sha256_of = hash_then_vanish


def _peak_hook(path: str) -> None:
    def write_peak():
        with open(path, "w") as handle:
            handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
    atexit.register(write_peak)


def main() -> None:
    env = os.environ
    if env.get("FACESETS_TEST_VANISH"):
        _vanish_hook(env["FACESETS_TEST_VANISH"])
    if env.get("FACESETS_TEST_PEAK_FILE"):
        _peak_hook(env["FACESETS_TEST_PEAK_FILE"])
    if env.get("FACESETS_TEST_TRACE") or env.get("FACESETS_TEST_KILL_AT"):
        import crashpoints

        crashpoints.install(env.get("FACESETS_TEST_TRACE"), int(env.get("FACESETS_TEST_KILL_AT") or 0))
    from facesets.cli.main import app

    sys.argv[0] = "facesets"
    app()


if __name__ == "__main__":
    main()
