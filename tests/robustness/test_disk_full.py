"""Issue 8: the disk fills up during export. A write hook (hooked_cli.py, FACESETS_TEST_DISK_FULL)
makes every write into the staging folder fail with ENOSPC once K bytes went in, at several K
spread over the export's size: one clear line, exit != 0, no staging debris, and the previous
export byte-for-byte (names, contents, modes, mtimes) where it was."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import FACES, run_cli
from facesets.catalog import Catalog
from rbhelp import run_hooked, tree_diff, tree_state

CORPUS = {"Colin_Powell": 6, "Tony_Blair": 6}
SAVED_PARAMS = {"min_faces": 3}   # the settings page's saved parameters: 6 faces make a faceset
SHARES = (0.0, 0.3, 0.7, 0.97)     # where in the export's bytes the disk is full


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("diskfull")
    src = base / "photos"
    src.mkdir()
    for person, count in CORPUS.items():
        for n in range(1, count + 1):
            shutil.copy2(FACES / "lfw158" / person / f"{person}_{n:04d}.jpg", src)
    out, db = base / "out", base / "catalog.db"
    with Catalog.open(db, create=True) as catalog:
        catalog.set_meta("cluster_params", json.dumps(SAVED_PARAMS))
    run_cli("run", src, out, "--catalog", db, "--engine", "dlib", "-q")
    export = out / "facesets"
    size = sum(p.stat().st_size for p in export.rglob("*") if p.is_file())
    assert len(list(export.glob("*.fsz"))) >= 2, sorted(p.name for p in export.iterdir())
    return {"db": db, "export": export, "size": size}


@pytest.mark.slow
@pytest.mark.parametrize("share", SHARES)
def test_disk_full_during_export_leaves_the_previous_export_intact(exported, share):
    export, db = exported["export"], exported["db"]
    before = tree_state(export)
    room = int(exported["size"] * share)
    proc, _ = run_hooked(["export", str(export), "--catalog", str(db), "-q"],
                         env={"FACESETS_TEST_DISK_FULL": str(room), "PYTHONWARNINGS": "ignore"})
    print(f"\ndisk full after {room} of {exported['size']} bytes: exit {proc.returncode}, {proc.stderr.strip()!r}")
    assert proc.returncode not in (0, None)
    message = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and len(message.splitlines()) == 1, proc.stderr[-2000:]
    assert "No space left on device" in message and "previous export left intact" in message
    assert tree_diff(before, tree_state(export)) == []
    leftovers = [p.name for p in export.parent.iterdir() if p.name.startswith(f".{export.name}.")]
    assert leftovers == []
    with Catalog.open(db, readonly=True) as catalog:
        status = catalog.runs.last("export").status
    assert status == "failed"


def test_the_hook_fills_the_disk_only_when_told(exported, tmp_path):
    """Without the hook (or with room to spare) the same export succeeds: the failure above is the disk's."""
    copy = tmp_path / "facesets"
    proc, _ = run_hooked(["export", str(copy), "--catalog", str(exported["db"]), "-q"],
                         env={"FACESETS_TEST_DISK_FULL": str(10 * exported["size"])})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in copy.glob("*.fsz")) == sorted(p.name for p in exported["export"].glob("*.fsz"))


@pytest.mark.slow
def test_disk_full_during_run_export_is_one_clear_line(exported):
    """`facesets run` again on the same OUT (nothing new to embed), the disk full halfway
    through its export: the same one-line error, and the previous export in place."""
    export, db = exported["export"], exported["db"]
    src = exported["db"].parent / "photos"
    before = tree_state(export)
    proc, _ = run_hooked(["run", str(src), str(export.parent), "--catalog", str(db), "--engine", "dlib", "-q"],
                         env={"FACESETS_TEST_DISK_FULL": str(exported["size"] // 2), "PYTHONWARNINGS": "ignore"})
    message = proc.stderr.strip()
    print(f"\nrun, disk full halfway through export: exit {proc.returncode}, {message!r}")
    assert proc.returncode not in (0, None)
    assert "Traceback" not in proc.stderr and len(message.splitlines()) == 1, proc.stderr[-2000:]
    assert "No space left on device" in message
    assert tree_diff(before, tree_state(export)) == []
    assert [p.name for p in export.parent.iterdir() if p.name.startswith(f".{export.name}.")] == []


@pytest.mark.slow
def test_killed_between_the_two_renames_then_disk_full_keeps_the_previous_export(exported, tmp_path):
    """The export swap is two renames (OUT -> .OUT.previous, staging -> OUT). SIGKILLed between
    them, OUT is briefly gone; the next export, even one that fails (disk full), must put the
    previous tree back in place rather than leave it hidden."""
    export, db = exported["export"], exported["db"]
    trace = tmp_path / "trace.txt"
    traced, _ = run_hooked(["export", str(export), "--catalog", str(db), "-q"], env={"FACESETS_TEST_TRACE": str(trace)})
    assert traced.returncode == 0, traced.stderr[-2000:]
    before = tree_state(export)
    events = [line.split("\t") for line in trace.read_text().splitlines()]
    # events fire before the call: dying at the staging rename means OUT was already moved aside
    swap = [int(n) for n, _, kind in events if kind == f"os.replace .{export.name}.staging"]
    assert len(swap) == 1 and events[swap[0] - 2][2] == f"os.replace {export.name}", events[-12:]
    killed, _ = run_hooked(["export", str(export), "--catalog", str(db), "-q"], env={"FACESETS_TEST_KILL_AT": str(swap[0])})
    assert killed.returncode == -9
    previous = export.with_name(f".{export.name}.previous")
    assert not export.exists() and previous.is_dir()     # the window this test is about
    full, _ = run_hooked(["export", str(export), "--catalog", str(db), "-q"],
                         env={"FACESETS_TEST_DISK_FULL": "0", "PYTHONWARNINGS": "ignore"})
    assert full.returncode != 0 and "No space left on device" in full.stderr
    assert tree_diff(before, tree_state(export)) == []
    assert not previous.exists()
