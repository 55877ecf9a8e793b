"""Issue 21: embed on a Dask cluster (`--cluster local:2`: a LocalCluster of two worker
processes of one thread each) gives the catalog a run on one machine gives: the same files,
aliases and errors, the same faces (box, landmarks, score) with byte-equal embeddings, the same
people after clustering; a worker killed mid-run, a file that kills its workers and an
interrupted driver change nothing but what they must."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import psutil
import pytest

from conftest import FACES, run_cli
from facesets.catalog import Catalog
from robustness.rbhelp import Paused

KNN = FACES / "face_recognition_examples" / "knn_examples"
CLUSTER = ("--cluster", "local:2")


def _corpus(root: Path, people: int, per_person: int, extras: bool = True) -> Path:
    """lfw158 photos (people x per_person) and, with `extras`, the knn examples (group photos
    among them), a byte copy (an alias) and a broken file."""
    src = root / "photos"
    src.mkdir(parents=True)
    for person in sorted(p for p in (FACES / "lfw158").iterdir() if p.is_dir())[:people]:
        for photo in sorted(person.glob("*.jpg"))[:per_person]:
            shutil.copy2(photo, src / photo.name)
    if extras:
        shutil.copytree(KNN, src / "knn")
        shutil.copy2(KNN / "test" / "obama1.jpg", src / "obama1_copy.jpg")
        (src / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return src


def catalog_state(db: Path) -> dict:
    """Everything embed decides, ids included; embeddings and landmarks as bytes."""
    with Catalog.open(db, readonly=True) as catalog:
        files = [(f.id, f.path, f.sha256, f.status, f.error, f.n_faces, f.width, f.height) for f in catalog.files.all()]
        aliases = sorted((path, f.id) for f in catalog.files.all() for path in catalog.files.aliases_of(f.id))
        faces = [(f.id, f.file_id, f.face_index, tuple(f.box), f.score,
                  None if f.landmarks is None else f.landmarks.tobytes(), f.embedding.tobytes())
                 for f in catalog.faces.all()]
    return {"files": files, "aliases": aliases, "faces": faces}


def _people(db: Path) -> dict[int, list[int]]:
    import facesets

    with facesets.open(db) as library:
        library.cluster()
        return {p.id: sorted(f.id for f in library.faces(p)) for p in library.people()}


def _embed(src: Path, db: Path, *extra: str, env: dict | None = None):
    return run_cli("embed", src, "--catalog", db, "-q", *extra, env=env)


# -- acceptance 1: the same catalog and the same people ------------------------------------------

@pytest.mark.parametrize("engine", ["dlib", "insightface"])
def test_a_local_cluster_embeds_and_clusters_like_one_machine(tmp_path, engine, request):
    src = _corpus(tmp_path, people=4, per_person=3)
    engine_args = ["--engine", engine]
    if engine == "insightface":
        engine_args += ["--models", str(request.getfixturevalue("test_models"))]
    one, spread = tmp_path / "one.db", tmp_path / "cluster.db"
    _embed(src, one, *engine_args)
    proc = _embed(src, spread, *engine_args, *CLUSTER)
    assert "files 28 (new 27, aliases 1)" in proc.stdout and "errors 1" in proc.stdout
    expected, got = catalog_state(one), catalog_state(spread)
    assert got["files"] == expected["files"]
    # the walk meets the copy at the top first: the knn example is its alias
    assert got["aliases"] == expected["aliases"] == [(str(src / "knn" / "test" / "obama1.jpg"), _file_id(got, "/obama1_copy.jpg"))]
    assert len(got["faces"]) == len(expected["faces"]) >= 26
    assert got["faces"] == expected["faces"]    # boxes, landmarks, scores; embeddings byte for byte
    people = _people(spread)
    assert people == _people(one) and len(people) >= 2


def _file_id(state: dict, tail: str) -> int:
    return next(row[0] for row in state["files"] if row[1].endswith(tail))


def test_library_api_takes_cluster_and_reports_faces_and_workers(tmp_path):
    import facesets

    src = _corpus(tmp_path, people=2, per_person=2, extras=False)
    seen: dict[str, list] = {}
    with facesets.open(tmp_path / "c.db") as library:
        result = library.embed([src], engine="dlib", cluster="local:2",
                               progress=lambda phase, advance, total: seen.setdefault(phase, []).append((advance, total)))
    assert result.embedded_files == 4 and result.faces >= 4 and not result.interrupted
    assert sum(a for a, _ in seen["embed"]) == 4
    assert sum(a for a, _ in seen["faces"]) == result.faces
    alive = sum(a for a, _ in seen["workers alive"])
    assert alive == 2 and seen["workers alive"][-1][1] == 2   # two alive, of the two seen


# -- issue 18's sources on every path: a video's frames and XMP names travel with the faces ----

def _media_corpus(root: Path) -> Path:
    """lfw158 photos (enough that dlib analyses in worker processes on one machine), a video of
    two people in turn, a photo named by a Lightroom sidecar (one region where no face is
    detected: embedded at its box) and one with embedded regions."""
    from facesets.testing import lfw_face, write_video
    from media.xmphelp import BIDEN, KIT, NOBODY, OBAMA, ROSE, grown, write_regions

    src = _corpus(root, people=4, per_person=4, extras=False)
    write_video(src / "clip.mp4", [(lfw_face("George_W_Bush", 0), 2.0), (lfw_face("Colin_Powell", 0), 2.0)])
    kit = shutil.copy2(KNN / "test" / "kit_with_rose.jpg", src / "kit_with_rose.jpg")
    write_regions(Path(kit), [("Kit Harington", KIT), ("Rose Leslie", ROSE), ("Nobody", NOBODY)], 501, 700,
                  out=src / "kit_with_rose.xmp")
    group = shutil.copy2(KNN / "test" / "obama_and_biden.jpg", src / "obama_and_biden.jpg")
    write_regions(Path(group), [("Joe Biden", grown(BIDEN)), ("Barack Obama", grown(OBAMA))], 2000, 1428)
    return src


def _media_state(db: Path) -> dict:
    """catalog_state, and what issue 18 adds: each face's frame, person name, placement and origin."""
    with Catalog.open(db, readonly=True) as catalog:
        faces = catalog.faces.all()
        frames = {face_id: (frame.index, frame.t_ms) for face_id, frame in catalog.faces.frames_of(f.id for f in faces).items()}
        names = {p.id: (p.name, p.pinned) for p in catalog.people.active()}
        named = {f.id: (*names[f.person_id], f.assigned_by, json.dumps(f.origin, sort_keys=True))
                 for f in faces if f.person_id is not None}
    return {**catalog_state(db), "frames": frames, "named": named}


def test_videos_and_xmp_names_come_out_the_same_from_threads_processes_and_a_cluster(tmp_path, monkeypatch):
    """A video and XMP-tagged photos embedded in threads, in dlib worker processes and on
    `local:2` (its workers reading a copy of the library through a path map): the same catalog,
    every face's frame and name included."""
    from facesets.embed import ClusterOptions, EmbedOptions, embed, pipeline
    from facesets.engines import EngineOptions

    src = _media_corpus(tmp_path / "here")
    there = tmp_path / "there" / "photos"
    shutil.copytree(src, there)                      # where the workers mount the library
    ways = {"threads": EmbedOptions(workers=1, batch_files=4),
            "processes": EmbedOptions(workers=2, batch_files=4),
            "cluster": EmbedOptions(batch_files=4, cluster=ClusterOptions("local:2", ((str(src), str(there)),)))}
    pools = []
    real_pool = pipeline.engine_pool
    monkeypatch.setattr(pipeline, "engine_pool", lambda *a, **k: pools.append(1) or real_pool(*a, **k))
    states = {}
    for way, options in ways.items():
        with Catalog.open(tmp_path / f"{way}.db") as catalog:
            result = embed(catalog, [src], engine_options=EngineOptions(engine="dlib"), options=options)
        assert result.errors == 0 and result.files_new == 19, way
        states[way] = _media_state(tmp_path / f"{way}.db")
    assert len(pools) == 1                           # the processes way did run in worker processes
    expected = states["threads"]
    clip = _file_id(expected, "/clip.mp4")
    assert {face[0] for face in expected["faces"] if face[1] == clip} == set(expected["frames"]) != set()
    names = {name for name, *_ in expected["named"].values()}
    assert names == {"Kit Harington", "Rose Leslie", "Nobody", "Joe Biden", "Barack Obama"}
    origins = {json.loads(origin)["region"]: json.loads(origin)["from"] for *_, origin in expected["named"].values()}
    assert origins["Nobody"] == str(src / "kit_with_rose.xmp") and origins["Joe Biden"] == str(src / "obama_and_biden.jpg")
    assert states["processes"] == expected
    assert states["cluster"] == expected             # names read through the path map, recorded as here


# -- acceptance 2 and 3: faults ------------------------------------------------------------------

@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """64 lfw158 photos (four batches) and the catalog of a clean run on one machine."""
    root = tmp_path_factory.mktemp("faults")
    src = _corpus(root, people=16, per_person=4, extras=False)
    clean = root / "clean.db"
    _embed(src, clean, "--engine", "dlib")
    return src, catalog_state(clean)


def _worker_processes(driver_pid: int) -> list[psutil.Process]:
    """The LocalCluster's worker processes (its nannies live in the driver)."""
    return [p for p in psutil.Process(driver_pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())]


def test_a_worker_killed_mid_run_changes_nothing(tmp_path, faults):
    src, clean = faults
    db = tmp_path / "c.db"
    # paused once the first batch is committed: the other three are on the workers
    paused = Paused(["embed", str(src), "--catalog", str(db), "--engine", "dlib", "-q", *CLUSTER], ["done:16"],
                    tmp_path / "pause")
    paused.wait_paused()
    workers = _worker_processes(paused.proc.pid)
    assert len(workers) == 2
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait(30)
    paused.resume()
    done = paused.finish()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "errors 0" in done.stdout
    assert catalog_state(db) == clean


def test_a_file_that_kills_its_workers_becomes_an_error_row(tmp_path, faults):
    src, clean = faults
    db = tmp_path / "c.db"
    poison = Path(clean["files"][-1][1])      # the last file: every other keeps its ids
    proc = _embed(src, db, "--engine", "dlib", *CLUSTER, env={"FACESETS_TEST_WORKER_CRASH": poison.name})
    assert "errors 1" in proc.stdout and "worker crashed while reading it" in proc.stdout
    state = catalog_state(db)
    crashed = [row for row in state["files"] if row[1] == str(poison)]
    assert [row[3:5] for row in crashed] == [("error", "worker crashed while reading it")]
    assert [row for row in state["files"] if row[1] != str(poison)] == clean["files"][:-1]
    poison_id = clean["files"][-1][0]
    assert state["faces"] == [face for face in clean["faces"] if face[1] != poison_id]
    # a re-run reads nothing again (the crash is remembered) and starts no cluster
    again = _embed(src, db, "--engine", "dlib", *CLUSTER, env={"FACESETS_TEST_WORKER_CRASH": poison.name})
    assert "decoded 0" in again.stdout and catalog_state(db) == state


def test_an_interrupted_driver_keeps_its_commits_and_a_rerun_equals_the_clean_run(tmp_path, faults):
    src, clean = faults
    db = tmp_path / "c.db"
    args = ["embed", str(src), "--catalog", str(db), "--engine", "dlib", "-q", *CLUSTER]
    paused = Paused(args, ["done:16"], tmp_path / "pause")
    paused.wait_paused()
    paused.proc.send_signal(signal.SIGINT)     # Ctrl-C while the workers hold the next batches
    stopped = paused.finish(timeout=300)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "interrupted" in stopped.stderr and "Traceback" not in stopped.stderr
    with Catalog.open(db, readonly=True) as catalog:
        counts = catalog.counts()
        last = catalog.runs.last("embed")
    assert counts["files"] - counts["pending"] >= 16 and counts["pending"] > 0 and last.status == "interrupted"
    _embed(src, db, "--engine", "dlib", *CLUSTER)
    assert catalog_state(db) == clean


# -- workers that must not work, settings that must not pass -------------------------------------

def test_a_worker_with_other_weights_or_none_is_refused_in_one_line(tmp_path, test_models):
    from facesets.testing import build_test_pack

    src = _corpus(tmp_path, people=1, per_person=2, extras=False)
    other = tmp_path / "other_models"
    build_test_pack(other, "buffalo_l", seed=1)   # another recogniser under the same name
    args = ["embed", src, "--catalog", tmp_path / "c.db", "-q", "--engine", "insightface", "--models", test_models,
            *CLUSTER]
    env = {"FACESETS_MODELS": str(tmp_path / "nowhere"), "HOME": str(tmp_path)}
    proc = run_cli(*args, "--path-map", f"{test_models}={other}", check=False, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "w600k_r50.onnx differ" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli(*args, "--path-map", f"{test_models}={tmp_path / 'absent'}", check=False, env=env)
    assert proc.returncode == 2
    assert f"looked in {tmp_path / 'absent' / 'buffalo_l'}, {tmp_path / 'nowhere' / 'buffalo_l'}" in proc.stderr
    with Catalog.open(tmp_path / "c.db", readonly=True) as catalog:
        assert catalog.counts()["faces"] == 0 and catalog.runs.last("embed").status == "failed"


def test_run_with_path_map_makes_workers_read_where_they_mount_the_library(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    shutil.copy2(KNN / "train" / "biden" / "biden.jpg", here / "a.jpg")
    shutil.copy2(KNN / "test" / "obama_and_biden.jpg", there / "a.jpg")   # what a worker finds at its mount
    db = tmp_path / "c.db"
    run_cli("run", here, tmp_path / "out", "--catalog", db, "--engine", "dlib", "-q", *CLUSTER,
            "--path-map", f"{here}={there}")
    with Catalog.open(db, readonly=True) as catalog:
        [row] = catalog.files.all()
    from facesets.media import sha256_file
    assert row.path == str(here / "a.jpg") and row.sha256 == sha256_file(there / "a.jpg") and row.n_faces >= 2


def test_without_the_extra_the_error_names_it(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None; from facesets.cli.main import app; "
            "app(prog_name='facesets')")
    proc = subprocess_run([sys.executable, "-c", code, "embed", str(KNN / "test" / "obama1.jpg"),
                           "--catalog", str(tmp_path / "c.db"), *CLUSTER])
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --cluster needs Dask distributed: pip install 'facesets[cluster]'"
    assert not (tmp_path / "c.db").exists() or _no_runs(tmp_path / "c.db")


def _no_runs(db: Path) -> bool:
    with Catalog.open(db, readonly=True) as catalog:
        return catalog.runs.last("embed") is None


def subprocess_run(args: list[str]):
    import subprocess

    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize("args, message", [
    (["--cluster", "nowhere"], "expected local, local:N, tcp://HOST:PORT or tls://HOST:PORT"),
    (["--cluster", "local:0"], "expected local:N with N a number of workers"),
    (["--cluster", "local:x"], "--cluster local:x: expected local:N"),   # printed as typed, not as an emoji
    (["--cluster", "tcp://10.0.0.1:8786", "--tls-ca-file", "x"], "use tls://10.0.0.1:8786"),
    (["--cluster", "tls://10.0.0.1:8786", "--tls-ca-file", "x"], "needs all three"),
    (["--path-map", "a=b"], "apply to --cluster only"),
    (["--cluster", "local", "--path-map", "ab"], "expected LOCAL=REMOTE"),
])
def test_bad_cluster_settings_are_one_line_errors(tmp_path, args, message):
    proc = run_cli("embed", KNN / "test" / "obama1.jpg", "--catalog", tmp_path / "c.db", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_plain_tcp_beyond_loopback_is_warned_about_once():
    from conftest import notices_of_facesets
    from facesets.embed import dask_driver

    with notices_of_facesets() as notices:
        for address in ("tcp://127.0.0.1:8786", "tcp://localhost:8786", "tls://10.9.8.7:8786",
                        "tcp://10.9.8.7:8786", "tcp://10.9.8.7:8786"):
            dask_driver._warn_if_plain(address)
    assert len(notices) == 1 and notices[0].startswith("tcp://10.9.8.7:8786: plain tcp://")
    assert "private network" in notices[0]


def test_a_tls_scheduler_with_its_own_worker(tmp_path):
    """Not a LocalCluster: `dask scheduler` and `dask worker` over TLS, as the README sets them up."""
    import subprocess

    certs = _certificates(tmp_path)
    tls = ["--tls-ca-file", str(certs["ca"]), "--tls-cert", str(certs["cert"]), "--tls-key", str(certs["key"])]
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([dask, "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file), *tls],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        _wait_for(scheduler_file, scheduler)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        worker = subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard", *tls],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        src = _corpus(tmp_path, people=1, per_person=2, extras=False)
        proc = run_cli("embed", src, "--catalog", tmp_path / "c.db", "-q", "--engine", "dlib", "--cluster", address,
                       *tls, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "files 2 (new 2, aliases 0), decoded 2" in proc.stdout and "plain tcp" not in proc.stderr
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(30)


def _wait_for(path: Path, process, seconds: float = 120) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, "the scheduler did not start"
        assert time.monotonic() < deadline, "no scheduler file in time"
        time.sleep(0.1)


def _certificates(root: Path) -> dict[str, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl)."""
    import subprocess

    ca, ca_key, cert, key, csr = (root / n for n in ("ca.pem", "ca.key", "cert.pem", "key.pem", "cert.csr"))
    ext = root / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def openssl(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
            "-subj", "/CN=facesets-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
            "-extfile", ext)
    return {"ca": ca, "cert": cert, "key": key}


def test_each_difference_between_a_worker_and_the_driver_is_named():
    from facesets.embed.dask_worker import difference

    driver = {"facesets": "0.2.0", "engine": "insightface", "model": "buffalo_l/w600k_r50.onnx", "detector": "det_10g.onnx",
              "weights": {"det_10g.onnx": "a" * 64, "w600k_r50.onnx": "b" * 64}}
    assert difference(driver, driver) is None
    cases = {"facesets": "0.1.0", "engine": "dlib", "model": "buffalo_s/w600k_mbf.onnx"}
    for key, value in cases.items():
        assert difference({**driver, key: value}, driver) == f"{key} {value} there, {driver[key]} here"
    assert difference({**driver, "weights": {"det_10g.onnx": "a" * 64}}, driver) == "weights w600k_r50.onnx missing there"
    other = {**driver, "weights": {"det_10g.onnx": "a" * 64, "w600k_r50.onnx": "c" * 64}}
    assert difference(other, driver) == f"weights w600k_r50.onnx differ (sha256 {'c' * 12}… there, {'b' * 12}… here)"


def test_a_worker_that_cannot_read_xmp_regions_is_named_when_the_driver_reads_them():
    from facesets.embed.dask_worker import difference

    driver = {"facesets": "0.2.0", "engine": "dlib", "model": "dlib_face_recognition_resnet_model_v1", "detector": "hog",
              "weights": {}, "xmp": True}
    assert difference(driver, driver) is None
    assert difference({**driver, "xmp": False}, driver) == "the xmp extra (pyexiv2) missing there"
    assert difference(driver, {**driver, "xmp": False}) == "the xmp extra (pyexiv2) there, not here"
    without = {k: v for k, v in driver.items() if k != "xmp"}   # --no-xmp (or crops): not asked of workers
    assert difference({**driver, "xmp": False}, without) is None
