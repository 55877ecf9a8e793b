"""The catalog at scale: `facesets cluster` and `facesets extend` end to end on synthetic
libraries of 100k and 1M faces (128-d like dlib, 512-d like ArcFace), and the clustering
algorithm alone at 5M x 512-d, for the memory curve.

The synthetic faces mimic real distance distributions, not random identity centres: each face
is t * centre + sqrt(1 - t^2) * noise, t drawn per face (how far it strays from its identity),
identity centres drawn from a low-rank subspace (look-alikes exist) around a shared direction.
- 128-d: matched to the same-person and different-person cosine distances that dlib gives on
  ../shared lfw158 (measured here from the cached benchmark catalog, printed beside the
  synthetic ones);
- 512-d: matched to buffalo_l's published figures: within one identity mean 0.45, median 0.45,
  5% under 0.30, a tail to ~0.84; different identities above ~0.6 (here: 1 pair in 10,000
  below 0.6, median 1.0).
Identity sizes are long-tailed (1 to 2000 faces), 30% of photos hold 2-4 faces. Catalogs are
built through the repositories (FacesRepo.add_embedded_photos) and cached; each run works on a
copy. Timings note the load average (other work shares this machine's 2 cores).

    python benchmarks/catalog_scale.py [--sizes 100000,1000000] [--dims 128,512] [--algorithm 5000000]

Last line: JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, FACES, cached_catalog, main_face_labels  # noqa: E402

NEW_FACES = 1_000
CHUNK = 100_000


@dataclass(frozen=True)
class Shape:
    """How a synthetic library's faces spread: per-face closeness t ~ N(t_mean, t_sd) to the
    identity centre; centres sqrt(shared) * m + sqrt(1 - shared) * (a unit vector of a
    `rank`-dimensional subspace)."""
    dim: int
    t_mean: float
    t_sd: float
    shared: float
    rank: int
    model: tuple[str, str, str, str]   # engine, model, detector, landmark scheme


SHAPES = {
    128: Shape(128, 0.975, 0.0105, 0.88, 16, ("dlib", "resnet_v1", "hog", "dlib5")),
    512: Shape(512, 0.742, 0.087, 0.0, 32, ("insightface", "buffalo_l/w600k_r50.onnx", "det_10g", "arcface5")),
}
TARGET_512 = {"same_mean": 0.45, "same_q05": 0.30, "same_q50": 0.45, "same_max": 0.84, "diff_q0001": 0.60,
              "diff_q50": 1.0}


class Library:
    """A synthetic library of n faces, generated chunk by chunk (never all at once)."""

    def __init__(self, n: int, shape: Shape, seed: int = 0):
        self.n, self.shape = n, shape
        rng = np.random.default_rng(seed)
        sizes = []
        while sum(sizes) < n:
            sizes.append(int(min(2000, max(1, rng.lognormal(2.5, 1.3)))))
        sizes[-1] -= sum(sizes) - n
        self.labels = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
        basis = np.linalg.qr(rng.standard_normal((shape.dim, shape.rank + 1)))[0].astype(np.float32)
        self.centres = self._centres(len(sizes) + NEW_FACES, basis, rng)
        photo_sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.7, 0.15, 0.1, 0.05])
        ends = np.cumsum(photo_sizes)
        self.photo_sizes = photo_sizes[: np.searchsorted(ends, n) + 1]
        self.photo_sizes[-1] -= int(self.photo_sizes.sum()) - n
        self.seed = seed

    def _centres(self, count: int, basis: np.ndarray, rng) -> np.ndarray:
        w = rng.standard_normal((count, self.shape.rank)).astype(np.float32) @ basis[:, 1:].T
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        return math.sqrt(self.shape.shared) * basis[:, 0] + math.sqrt(1 - self.shape.shared) * w

    def faces(self, labels: np.ndarray, rng) -> np.ndarray:
        t = np.clip(rng.normal(self.shape.t_mean, self.shape.t_sd, len(labels)), 0.05, 0.999).astype(np.float32)
        noise = rng.standard_normal((len(labels), self.shape.dim), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        X = t[:, None] * self.centres[labels] + np.sqrt(1 - t * t)[:, None] * noise
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        return X

    def chunks(self):
        """(first face, photo sizes, embeddings) per chunk of about CHUNK faces, whole photos."""
        rng = np.random.default_rng(self.seed + 1)
        photo, face = 0, 0
        while face < self.n:
            stop = min(len(self.photo_sizes), photo + int(np.searchsorted(np.cumsum(self.photo_sizes[photo:]), CHUNK)) + 1)
            sizes = self.photo_sizes[photo:stop]
            count = int(sizes.sum())
            yield face, photo, sizes, self.faces(self.labels[face:face + count], rng)
            photo, face = stop, face + count

    def matrix(self) -> np.ndarray:
        X = np.empty((self.n, self.shape.dim), np.float32)
        for face, _, _, chunk in self.chunks():
            X[face:face + len(chunk)] = chunk
        return X

    def newcomers(self) -> tuple[np.ndarray, np.ndarray]:
        """NEW_FACES faces to extend with: 70% of people already in the library (drawn in
        proportion to their faces), 30% of people never seen; (labels, embeddings)."""
        rng = np.random.default_rng(self.seed + 2)
        known = self.labels[rng.integers(0, self.n, int(NEW_FACES * 0.7))]
        fresh = int(self.labels.max()) + 1 + rng.integers(0, NEW_FACES // 10, NEW_FACES - len(known))
        labels = np.concatenate([known, fresh])
        return labels, self.faces(labels, rng)


def bulk(paths_from: int, sizes: np.ndarray, X: np.ndarray):
    from facesets.catalog import BulkPhotos
    m = len(X)
    slot = np.arange(m) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    boxes = np.stack([100 + 300 * slot, np.full(m, 100), 300 + 300 * slot, np.full(m, 300)], axis=1)
    return BulkPhotos([f"/synthetic/{paths_from + i:08d}.jpg" for i in range(len(sizes))],
                      np.tile([1600, 1200], (len(sizes), 1)), sizes, boxes, np.full(m, 0.9), X)


def build(path: Path, library: Library) -> None:
    """The library's catalog, through the repositories (cached: built once per size and dim)."""
    from facesets.catalog import Catalog
    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    with Catalog.open(partial) as catalog:
        model = catalog.register_model(library.shape.model[0], library.shape.model[1], library.shape.dim,
                                       *library.shape.model[2:])
        for _, photo, sizes, X in library.chunks():
            catalog.faces.add_embedded_photos(bulk(photo, sizes, X), model_id=model.id)
    partial.rename(path)
    print(f"  built {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def add_newcomers(path: Path, library: Library) -> None:
    from facesets.catalog import Catalog
    _, X = library.newcomers()
    sizes = np.ones(len(X), np.int64)
    with Catalog.open(path) as catalog:
        catalog.faces.add_embedded_photos(bulk(10**8, sizes, X), model_id=catalog.embedding_model().id)


def vm_mb(key: str, pid: int | str = "self") -> float | None:
    """A memory figure of a process from /proc (VmHWM: its peak resident set; VmRSS: now), MiB.
    Not getrusage: a child's ru_maxrss starts at its parent's size (fork copies the counter)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def timed(args: list[str]) -> dict:
    """Run a command; its wall seconds, its own peak RSS (MiB, its VmHWM read until it exits)
    and the load average around it."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, vm_mb("VmHWM", proc.pid) or 0.0)
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        out, err = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed ({proc.returncode}): {err.strip()[-400:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak), "load_before": round(load, 1),
            "load_after": round(os.getloadavg()[0], 1), "stdout": out}


def facesets(*args) -> list[str]:
    return [sys.executable, "-m", "facesets", *map(str, args)]


def bcubed_of(path: Path, library: Library, sample: int = 200_000) -> float:
    """BCubed F of the catalog's people against the true identities, on a sample of faces
    (face ids are 1..n in generation order; unassigned faces count as singletons)."""
    from facesets.catalog import Catalog
    from facesets.cluster.metrics import bcubed
    ids = np.sort(np.random.default_rng(3).choice(library.n, size=min(sample, library.n), replace=False)) + 1
    with Catalog.open(path, readonly=True) as catalog:
        owners = catalog.faces.owners(ids.tolist())
    found = np.array([owners.get(int(i)) if owners.get(int(i)) is not None else -int(i) for i in ids])
    return round(bcubed(library.labels[ids - 1], found)["f"], 4)


def end_to_end(n: int, dim: int, keep: bool) -> dict:
    library = Library(n, SHAPES[dim])
    base = CACHE / f"catalog_scale_{dim}d_{n}.db"
    build(base, library)
    work = CACHE / f"catalog_scale_{dim}d_{n}.work.db"
    shutil.copyfile(base, work)
    try:
        row = {"faces": n, "identities": int(library.labels.max()) + 1,
               "catalog_mb": round(base.stat().st_size / 2**20), "load": timed([sys.executable, __file__, "--child", "load", work])}
        row["load"].update(json.loads(row["load"].pop("stdout").strip().splitlines()[-1]))
        row["cluster"] = timed(facesets("cluster", "--catalog", work, "-q"))
        row["cluster"].pop("stdout")
        row["bcubed_f"] = bcubed_of(work, library)
        add_newcomers(work, library)
        row["extend"] = timed(facesets("extend", "--catalog", work, "-q"))
        row["extend"]["result"] = row["extend"].pop("stdout").strip().splitlines()[-1:]
    finally:
        if not keep:
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(str(work) + suffix).unlink(missing_ok=True)
    return row


def child_load(path: str) -> None:
    """Peak memory of loading every face's embedding from the catalog, against the matrix."""
    from facesets.catalog import Catalog
    with Catalog.open(path, readonly=True) as catalog:
        before = vm_mb("VmRSS")
        data = catalog.faces.cluster_input()
        matrix = data.X.nbytes / 2**20
        grown = vm_mb("VmHWM") - before
    print(json.dumps({"matrix_mb": round(matrix), "peak_growth_mb": round(grown),
                      "peak_over_matrix": round(grown / matrix, 3)}))


def child_algorithm(n: int, dim: int) -> None:
    """The default clustering alone on n synthetic faces held in memory."""
    from facesets.cluster.metrics import bcubed
    from facesets.cluster.params import default_algorithm
    from facesets.profiles import BUFFALO_L, DLIB
    library = Library(n, SHAPES[dim])
    X = library.matrix()
    data = vm_mb("VmRSS")
    started = time.perf_counter()
    labels = default_algorithm(BUFFALO_L if dim == 512 else DLIB).fit(X).labels_
    seconds = time.perf_counter() - started
    sample = np.random.default_rng(1).choice(n, size=min(n, 200_000), replace=False)
    print(json.dumps({"seconds": round(seconds, 1), "peak_rss_mb": round(vm_mb("VmHWM")), "data_rss_mb": round(data),
                      "matrix_mb": round(X.nbytes / 2**20),
                      "bcubed_f": round(bcubed(library.labels[sample], labels[sample])["f"], 4)}))


def distances(X: np.ndarray, labels: np.ndarray) -> dict:
    """Same-person and different-person cosine distance quantiles over every pair of X."""
    D = 1.0 - X @ X.T
    upper = np.triu_indices(len(X), 1)
    same = labels[upper[0]] == labels[upper[1]]
    s, d = D[upper][same], D[upper][~same]
    q = lambda a, p: round(float(np.quantile(a, p)), 4)  # noqa: E731
    return {"same_mean": round(float(s.mean()), 4), "same_q05": q(s, .05), "same_q50": q(s, .5), "same_q95": q(s, .95),
            "same_max": q(s, 1), "diff_q0001": q(d, 1e-4), "diff_q001": q(d, 1e-3), "diff_q01": q(d, .01),
            "diff_q05": q(d, .05), "diff_q50": q(d, .5), "same_pairs": int(len(s))}


def matched() -> dict:
    """What the synthetic shapes were matched to, and what they give (on 6,000 faces of 600
    identities of 10 faces, like a curated set)."""
    from facesets import Catalog
    path = cached_catalog("lfw158_singletons_dlib", [FACES / "lfw158", FACES / "lfw_singletons"], engine="dlib")
    with Catalog.open(path, readonly=True) as catalog:
        _, names = main_face_labels(catalog)
        _, X = catalog.faces.embeddings()
    names = np.array(names, object)
    main = np.array([not name.startswith("bystander:") for name in names])
    out = {"128": {"lfw158_dlib": distances(X[main], np.unique(names[main], return_inverse=True)[1])},
           "512": {"buffalo_l_published": TARGET_512}}
    for dim in (128, 512):
        library = Library(6_000, SHAPES[dim])
        labels = np.repeat(np.arange(600), 10)
        out[str(dim)]["synthetic"] = distances(library.faces(labels, np.random.default_rng(5)), labels)
        out[str(dim)]["shape"] = {k: v for k, v in asdict(SHAPES[dim]).items() if k != "model"}
    return out


def project(points: dict[int, dict], target: int = 10_000_000) -> dict:
    """10M from the two largest measured points: memory linear in n, time n^a (a fitted)."""
    (n1, p1), (n2, p2) = sorted(points.items())[-2:]
    slope = (p2["peak_rss_mb"] - p1["peak_rss_mb"]) / (n2 - n1)
    exponent = math.log(p2["seconds"] / p1["seconds"]) / math.log(n2 / n1)
    return {"from": [n1, n2], "peak_rss_mb": round(p2["peak_rss_mb"] + slope * (target - n2)),
            "seconds": round(p2["seconds"] * (target / n2) ** exponent), "time_exponent": round(exponent, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dims", default="128,512")
    parser.add_argument("--algorithm", default="5000000", help="sizes of the 512-d algorithm-only runs ('' for none)")
    parser.add_argument("--keep", action="store_true", help="keep the clustered copies (to look at them)")
    parser.add_argument("--previous", help="a file ending with an earlier run's JSON line: its figures join this "
                                           "run's (e.g. the 5M algorithm run apart from the end-to-end ones)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_load(args.child[1]) if args.child[0] == "load" else child_algorithm(int(args.child[1]), int(args.child[2]))
    results: dict = {"matched": matched()}
    if args.previous:
        earlier = json.loads(Path(args.previous).read_text().strip().splitlines()[-1])
        results.update({k: v for k, v in earlier.items() if k in ("128d", "512d", "algorithm_512d")})
    for key, values in results["matched"].items():
        print(f"{key}-d distances:", json.dumps(values))
    for dim in [int(d) for d in args.dims.split(",") if d]:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            row = end_to_end(n, dim, args.keep)
            results.setdefault(f"{dim}d", {})[str(n)] = row
            c, e, ld = row["cluster"], row["extend"], row["load"]
            print(f"{dim}-d {n:>9,d} faces: load {ld['peak_over_matrix']}x the matrix ({ld['matrix_mb']} MB); "
                  f"cluster {c['seconds']} s, {c['peak_rss_mb']} MB peak (load avg {c['load_before']}-{c['load_after']}); "
                  f"BCubed F {row['bcubed_f']}; extend {NEW_FACES} new: {e['seconds']} s, {e['peak_rss_mb']} MB "
                  f"(load avg {e['load_before']}-{e['load_after']})", flush=True)
    algorithm = {int(n): r for n, r in results.get("algorithm_512d", {}).items()}
    for n in [int(s) for s in args.algorithm.split(",") if s]:
        run = timed([sys.executable, __file__, "--child", "algorithm", str(n), "512"])
        run.update(json.loads(run.pop("stdout").strip().splitlines()[-1]))
        algorithm[n] = run
        print(f"algorithm alone, {n:,d} x 512: {run['seconds']} s, {run['peak_rss_mb']} MB peak "
              f"(matrix {run['matrix_mb']} MB; load avg {run['load_before']}-{run['load_after']}), BCubed F {run['bcubed_f']}",
              flush=True)
    results["algorithm_512d"] = {str(n): r for n, r in algorithm.items()}
    clustered = {int(n): r["cluster"] for n, r in results.get("512d", {}).items()}
    points = {**clustered, **{n: r for n, r in algorithm.items() if n not in clustered}}
    if len(points) >= 2:
        results["projection_10M_512d"] = project(points)
        print("10M x 512 projected:", json.dumps(results["projection_10M_512d"]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
