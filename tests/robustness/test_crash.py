"""Issue 8, acceptance 2: SIGKILL `facesets run` at moments spread over every stage; after
each, `doctor` finds nothing but the interrupted run, no half-written faceset is in place, and
a plain re-run ends with the catalog and outputs of an uninterrupted run.

Kill moments are events (each catalog write statement, each output write) drawn at random,
with a fixed seed, from the trace of an uninterrupted run: the process SIGKILLs itself at
that event, exactly what `kill -9` or a power cut at that instant does.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import FACES, run_cli
from rbhelp import pipeline_args, run_hooked

STAGES = ("embed", "cluster", "refine", "enrich", "export")
KILLS = 10
PER_STAGE = 2                                       # random kills per stage, besides its last event
SEED = 20261124
CORPUS = {"Colin_Powell": 6, "Tony_Blair": 6}      # 12 small face photos, two people
# the settings page's saved parameters (catalog meta 'cluster_params'), so 6 faces make a faceset
# and the corpus stays small enough for ~20 runs; `facesets run` itself is called without options
SAVED_PARAMS = {"min_faces": 3}
RUN_OPTIONS = ("--out-size", "256")                  # smaller crops: the export's re-detection is 4x cheaper
VOLATILE_COLUMN = re.compile(r"(_run|_at|^run_id|_time|^time|duration|elapsed)$")
VOLATILE_KEY = re.compile(r"(_at|time|timestamp|started|finished|duration|elapsed|seconds|^run_id|^run|catalog)$", re.I)
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?|\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?")
CATALOG_FILES = re.compile(r"catalog\.db(-wal|-shm|\.lock)?$")


def _corpus(root: Path) -> Path:
    src = root / "photos"
    src.mkdir(parents=True)
    for person, count in CORPUS.items():
        for n in range(1, count + 1):
            name = f"{person}_{n:04d}.jpg"
            shutil.copy2(FACES / "lfw158" / person / name, src / name)
    return src


def _args(src: Path, out: Path, db: Path) -> list[str]:
    """`facesets run SRC OUT` on a catalog created beforehand with the saved parameters."""
    from facesets.catalog import Catalog

    db.parent.mkdir(parents=True, exist_ok=True)
    with Catalog.open(db, create=True) as catalog:
        catalog.set_meta("cluster_params", json.dumps(SAVED_PARAMS))
    return pipeline_args(src, out, db, "-q", *RUN_OPTIONS)


def catalog_dump(db: Path) -> dict:
    """Every table but `runs`, volatile columns (run numbers, times) left out."""
    from facesets.catalog import Catalog

    with Catalog.open(db, readonly=True) as catalog:
        tables = catalog.integrity.dump()
    dump = {}
    for table, (columns, rows) in tables.items():
        if table == "runs":
            continue
        keep = [i for i, c in enumerate(columns) if not VOLATILE_COLUMN.search(c)]
        dump[table] = ([columns[i] for i in keep], sorted((tuple(r[i] for i in keep) for r in rows), key=repr))
    return dump


def _seconds(started: str, finished: str | None) -> float:
    from datetime import datetime

    if finished is None:
        return 0.0
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def _normalised(path: Path) -> str:
    if path.suffix == ".json":
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if not VOLATILE_KEY.search(k)}
            if isinstance(value, list):
                return [strip(v) for v in value]
            return value
        return json.dumps(strip(json.loads(path.read_text())), sort_keys=True)
    if path.suffix in (".html", ".txt", ".md", ".log"):
        return ISO_TIME.sub("<time>", path.read_text(errors="replace"))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def output_dump(out: Path) -> dict:
    if not out.exists():
        return {}
    dump = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if CATALOG_FILES.search(rel):
            continue
        if path.is_symlink():
            dump[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            dump[rel] = _normalised(path)
        else:
            dump[rel] = "dir"
    return dump


def _diff(a: dict, b: dict, limit: int = 8) -> str:
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            lines.append(f"{key}: {str(a.get(key))[:300]} != {str(b.get(key))[:300]}")
    return "\n".join(lines[:limit]) + (f"\n... {len(lines) - limit} more" if len(lines) > limit else "")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash_reference")
    src = _corpus(base)
    out, db, trace = base / "out", base / "out" / "catalog.db", base / "trace.txt"
    proc, _ = run_hooked(_args(src, out, db), env={"FACESETS_TEST_TRACE": str(trace)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [line.split("\t") for line in trace.read_text().splitlines()]
    from facesets.catalog import Catalog

    with Catalog.open(db, readonly=True) as catalog:
        timings = {r.command: round(_seconds(r.started_at, r.finished_at), 1) for r in catalog.runs.all()}
    print(f"\nuninterrupted run, seconds per stage: {timings}")
    return {"src": src, "out": out, "db": db, "events": events, "catalog": catalog_dump(db),
            "outputs": output_dump(out)}


def _kill_points(events: list[list[str]], stages: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """PER_STAGE seeded random events of each stage, plus each stage's last event (its data is
    committed, its run not yet marked done: the moment that decides how a re-run resumes)."""
    by_stage = defaultdict(list)
    for number, stage, kind in events:
        by_stage[stage].append((int(number), stage, kind))
    rng = random.Random(SEED)
    present = [s for s in stages if by_stage.get(s)]
    points = set()
    for stage in present:
        points.add(by_stage[stage][-1])
        rest = by_stage[stage][:-1]
        points.update(rng.sample(rest, min(PER_STAGE, len(rest))))
    return sorted(points)


@pytest.mark.slow
def test_sigkill_at_moments_across_all_stages_then_rerun_equals_uninterrupted(reference, tmp_path):
    stages = STAGES
    points = _kill_points(reference["events"], stages)
    seen_stages = {p[1] for p in points}
    print(f"\nkill points (seed {SEED}): " + ", ".join(f"#{n} {stage} {kind}" for n, stage, kind in points))
    assert len(points) >= KILLS, f"only {len(points)} kill points: {points}"
    print("per stage: " + ", ".join(f"{s} {sum(p[1] == s for p in points)}" for s in stages)
          + "; events per stage in the uninterrupted run: "
          + ", ".join(f"{s} {sum(e[1] == s for e in reference['events'])}" for s in stages))
    assert seen_stages == set(stages), f"stages without a kill point: {set(stages) - seen_stages}"
    failures = []
    for number, stage, kind in points:
        src = reference["src"]  # sources are only read: every run may share them
        out, db = tmp_path / f"kill_{number}" / "out", tmp_path / f"kill_{number}" / "out" / "catalog.db"
        started = time.monotonic()
        killed, _ = run_hooked(_args(src, out, db), env={"FACESETS_TEST_KILL_AT": str(number)})
        label = f"kill at #{number} ({stage}, {kind})"
        if killed.returncode != -9:
            failures.append(f"{label}: not killed (exit {killed.returncode}) {killed.stderr[-500:]}")
            continue
        if db.exists():
            doctor = run_cli("doctor", "--catalog", db, "--json", check=False)
            found = {f["check"] for f in json.loads(doctor.stdout)["findings"]} if doctor.stdout.strip() else {"?"}
            if found - {"stale_runs"}:
                failures.append(f"{label}: doctor finds {sorted(found)}")
        for bundle in out.rglob("*.fsz") if out.exists() else []:
            rel = bundle.relative_to(out).as_posix()
            if ".staging" in rel:
                continue
            try:
                with zipfile.ZipFile(bundle) as archive:
                    assert archive.testzip() is None
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{label}: half-written bundle in place: {rel} ({exc})")
        rerun = run_cli(*_args(src, out, db), check=False)
        print(f"{label}: killed and re-run in {time.monotonic() - started:.0f} s")
        if rerun.returncode != 0:
            failures.append(f"{label}: re-run exit {rerun.returncode}: {rerun.stderr[-800:]}")
            continue
        dump = _rebased(catalog_dump(db), out, reference["out"])
        for table, (columns, rows) in reference["catalog"].items():
            if dump.get(table) != (columns, rows):
                failures.append(f"{label}: table {table} differs from the uninterrupted run")
        outputs = _rebased(output_dump(out), out, reference["out"])
        if outputs != reference["outputs"]:
            failures.append(f"{label}: outputs differ:\n{_diff(outputs, reference['outputs'])}")
    assert not failures, "\n".join(failures)


def _rebased(value, old: Path, new: Path):
    """`value` with the killed run's OUT path written as the reference run's (manifests may record it)."""
    if isinstance(value, str):
        return value.replace(str(old), str(new))
    if isinstance(value, dict):
        return {k: _rebased(v, old, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_rebased(v, old, new) for v in value)
    return value
