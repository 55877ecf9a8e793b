"""Helpers shared by the robustness tests: the CLI with hooks, tree hashes, privileges."""
from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOOKED_CLI = HERE / "hooked_cli.py"
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def pipeline_args(src: Path, out: Path, catalog: Path, *extra: str) -> list[str]:
    """`facesets run SRC OUT` on the dlib engine."""
    return ["run", str(src), str(out), "--catalog", str(catalog), "--engine", "dlib", *extra]


def drop_root_file_access() -> None:
    """preexec_fn: as root, give up the capabilities that ignore file permissions, so a
    folder with mode 000 is unreadable as it is for any user (no-op for other users)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def can_drop_root_file_access() -> bool:
    if os.geteuid() != 0:
        return True
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=drop_root_file_access, capture_output=True)
    return probe.returncode == 0


def run_hooked(args: list[str], env: dict | None = None, preexec=None,
               timeout: float = 300) -> tuple[subprocess.CompletedProcess, int]:
    """Run the CLI through hooked_cli.py (hooks chosen by FACESETS_TEST_* variables);
    returns the completed process and its peak resident memory in bytes."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.Popen([sys.executable, str(HOOKED_CLI), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env, preexec_fn=preexec)
    stdout, stderr = proc.communicate(timeout=timeout)
    peak = 0  # written by the hook at exit: the process's own peak resident memory
    peak_file = full_env.get("FACESETS_TEST_PEAK_FILE")
    if peak_file and os.path.exists(peak_file):
        peak = int(Path(peak_file).read_text() or 0)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), peak


class Paused:
    """A hooked `facesets` process that stops at pause points (see crashpoints.py) and goes on
    when the test says so: what a test needs to happen "while it runs" happens at a known point."""

    def __init__(self, args: list[str], points: list[str], flag: Path, env: dict | None = None):
        self.flag = Path(flag)
        full_env = {**os.environ, "COLUMNS": "200", **(env or {}),
                    "FACESETS_TEST_PAUSE": ",".join(points), "FACESETS_TEST_PAUSE_FLAG": str(self.flag)}
        self.proc = subprocess.Popen([sys.executable, str(HOOKED_CLI), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=full_env)

    @property
    def _paused(self) -> Path:
        return self.flag.with_name(self.flag.name + ".paused")

    def wait_paused(self, timeout: float = 600) -> str:
        """Wait for the next pause point; returns its name. Fails if the process ends first."""
        deadline = time.monotonic() + timeout
        while not self._paused.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"the process ended (rc {self.proc.returncode}) before its pause point\n{err}")
            if time.monotonic() > deadline:
                raise AssertionError("no pause point reached in time")
            time.sleep(0.02)
        return self._paused.read_text()

    def resume(self) -> None:
        self.flag.with_name(self.flag.name + ".resume").write_text("go")
        while self._paused.exists() and self.proc.poll() is None:
            time.sleep(0.02)

    def finish(self, timeout: float = 900) -> subprocess.CompletedProcess:
        """Wait for the process to end; one that does not, within `timeout`, fails the test with
        every thread's stack (hooked_cli dumps them on SIGUSR1)."""
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            self.proc.kill()
            stdout, stderr = self.proc.communicate()
            raise AssertionError(f"the process did not end within {timeout} s; its threads:\n{stderr[-6000:]}") from None
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, stdout, stderr)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate()


def tree_state(root: Path) -> dict:
    """Every entry under `root` (symlinks not followed, nothing but regular files opened):
    name bytes -> (type, mode, size, mtime_ns, content sha256 or link target)."""
    root_b = os.fsencode(root)
    top = os.lstat(root_b)
    state = {b".": (stat.S_IFMT(top.st_mode), stat.S_IMODE(top.st_mode), 0, top.st_mtime_ns, None)}
    for dirpath, dirnames, filenames in os.walk(root_b, followlinks=False):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root_b)
            if stat.S_ISLNK(st.st_mode):
                detail = os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                detail = _sha256(full)
            else:
                detail = None
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            state[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), size, st.st_mtime_ns, detail)
    return state


def _sha256(path: bytes) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except PermissionError:
        return None


def tree_diff(before: dict, after: dict) -> list[str]:
    """Human-readable differences between two `tree_state` results."""
    problems = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            problems.append(f"removed {os.fsdecode(name)}")
        elif name not in before:
            problems.append(f"added {os.fsdecode(name)}")
        elif before[name] != after[name]:
            problems.append(f"changed {os.fsdecode(name)}: {before[name]} -> {after[name]}")
    return problems
