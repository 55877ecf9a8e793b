"""Issue 8, acceptance 3: sources are never written. The whole source tree (names, contents,
modes, mtimes of files and folders, symlink targets) is hashed before and after every command."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import FACES, run_cli
from rbhelp import tree_diff, tree_state

PEOPLE = {"Colin_Powell": 4, "Tony_Blair": 4}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    base = tmp_path_factory.mktemp("untouched")
    src = base / "photos"
    for person, count in PEOPLE.items():
        (src / person).mkdir(parents=True)
        for n in range(1, count + 1):
            name = f"{person}_{n:04d}.jpg"
            shutil.copy2(FACES / "lfw158" / person / name, src / person / name)
    (src / "copies").mkdir()
    shutil.copy2(src / "Colin_Powell" / "Colin_Powell_0001.jpg", src / "copies" / "same.jpg")
    os.symlink("../Tony_Blair/Tony_Blair_0001.jpg", src / "copies" / "link.jpg")
    odd = os.path.join(os.fsencode(src / "copies"), b"\xe9t\xe9.jpg")
    shutil.copy2(FACES / "lfw158" / "Tony_Blair" / "Tony_Blair_0005.jpg", os.fsdecode(odd))
    (src / "copies" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    old = time.time_ns() - 3 * 10**17  # about nine years ago: any rewrite would show
    for path in sorted(src.rglob("*"), reverse=True):
        if not path.is_symlink():
            os.utime(path, ns=(old, old))
    db = base / "catalog.db"
    from facesets.catalog import Catalog

    with Catalog.open(db, create=True) as catalog:   # the settings page's saved parameters:
        catalog.set_meta("cluster_params", json.dumps({"min_faces": 2}))  # 4 photos make a faceset
    return {"src": src, "db": db, "base": base}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(lib) -> None:
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "facesets", "serve", "--catalog", str(lib["db"]), "--port", str(port),
                             "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    assert response.status == 200
                    response.read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not answer: {proc.stdout.read() if proc.poll() is not None else ''}")
                time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cli(*args):
    return lambda lib: run_cli(*[a.format(**{k: str(v) for k, v in lib.items()}) for a in args])


# (test id, command that must exist, action) in the order a user would run them
COMMANDS = [
    ("embed", "embed", _cli("embed", "{src}", "--catalog", "{db}", "--engine", "dlib", "-q")),
    ("status", "status", _cli("status", "--catalog", "{db}", "--errors")),
    ("models", "models", _cli("models")),
    ("doctor", "doctor", _cli("doctor", "--catalog", "{db}")),
    ("cluster", "cluster", _cli("cluster", "--catalog", "{db}", "{base}/clusters")),
    ("refine", "refine", _cli("refine", "--catalog", "{db}", "{base}/facesets")),
    ("extend", "extend", _cli("extend", "--catalog", "{db}")),
    ("enrich", "enrich", _cli("enrich", "--catalog", "{db}")),
    ("export", "export", _cli("export", "--catalog", "{db}", "{base}/export")),
    ("dedup_analyze", "dedup", _cli("dedup", "analyze", "--catalog", "{db}", "--out", "{base}/dedup.json")),
    ("dedup_apply", "dedup", _cli("dedup", "apply", "--plan", "{base}/dedup.json")),
    ("undo", "undo", _cli("undo", "--catalog", "{db}")),
    ("import", "import", _cli("import", "{base}/export", "--catalog", "{db}", "--engine", "dlib", "-q")),
    ("run", "run", _cli("run", "{src}", "{base}/run_out", "--catalog", "{db}", "--engine", "dlib", "-q")),
    ("serve", "serve", _serve),
    ("doctor_repair", "doctor", _cli("doctor", "--catalog", "{db}", "--repair")),
]
# trees a command reads as its input besides the photos (import's bundles), hashed the same way
ALSO_READ = {"import": "export"}


@pytest.mark.parametrize("command, action", [(c[1], c[2]) for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_command_leaves_sources_untouched(library, command, action):
    before = tree_state(library["src"])
    assert len(before) >= 14
    also = library["base"] / ALSO_READ[command] if command in ALSO_READ else None
    also_before = tree_state(also) if also else None
    if also:
        assert len(also_before) >= 5
    action(library)
    assert tree_diff(before, tree_state(library["src"])) == []
    if also:
        assert tree_diff(also_before, tree_state(also)) == []


def test_the_commands_did_their_work(library):
    """The commands above really ran on this library: an export with facesets, a plan applied
    and undone, people imported (so the unchanged trees are not an empty run's)."""
    from facesets.catalog import Catalog

    assert len(list((library["base"] / "export").glob("*.fsz"))) >= 2
    with Catalog.open(library["db"], readonly=True) as catalog:
        imported = sum(1 for p in catalog.people.all() if p.imported)
    assert imported >= 1


def test_the_hash_would_see_a_write(library, tmp_path):
    """The check itself is sensitive: a touched mtime, a renamed file, one changed byte."""
    copy = tmp_path / "copy"
    shutil.copytree(library["src"], copy, symlinks=True)
    reference = tree_state(copy)
    victim = copy / "Colin_Powell" / "Colin_Powell_0002.jpg"
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert tree_diff(reference, tree_state(copy))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    data = bytearray(victim.read_bytes())
    data[100] ^= 1
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tree_diff(reference, tree_state(copy))
