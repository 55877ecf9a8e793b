"""Embedding throughput: `facesets embed` beside the loops people write today.

On a generated set of 12 MP photos (benchmarks/make_photos.py; every placed face 60-600 px in
the generator's units, a detector box of 57 px or more) it runs, each in its own process so
peak RSS is its own:
  (a) face_recognition-style dlib loop: full-resolution decode, HOG upsample 1, 5-point
      shape, descriptor, one face at a time;
  (b) naive InsightFace loop: cv2.imread full resolution, SCRFD det_500m at 640, norm_crop,
      a random-weight IResNet-50 recogniser (w600k_r50's FLOPs) one face at a time;
  (c) model-only ceilings: the same models on pre-decoded, pre-aligned inputs, best batch
      (dlib: one process per core, as (d) runs it), and the full decode's CPU per photo;
      c_detect: the InsightFace engine's small-face detection variants side by side
      (benchmarks/_detectbench.py: the 640 px pass alone, the default second look, YuNet
      proposals, tiles, a 1280 px pass): truth recall, detections matching no placed face,
      detection CPU per photo as a ratio to the 640 px pass, SCRFD passes per photo and the
      ratio they project for buffalo_l's det_10g, faces found on the crowd photo ssh_t2.jpg;
  (d) `facesets embed` (the library call) with each engine on the same models; each also
      embeds the crowd photo afterwards (untimed) and reports its face count;
      d_insightface_640: the InsightFace engine without its second look (as before issue 19).
Prints d/a, d/b, d/ceiling, the share of (a)'s and (b)'s faces that (d) finds, the truth
recall, the cosine of matching embeddings, images/s, faces/s, CPU and peak RSS. The last line
is JSON.

    python benchmarks/embed_throughput.py            # 40 photos (about 15 min on 2 cores)
    python benchmarks/embed_throughput.py --full --only b,c_detect,d_insightface,d_insightface_640
        # the 300-photo set
    python benchmarks/embed_throughput.py --full --device cuda --only b,c_insightface,d_insightface
        # insightface on a GPU (onnxruntime-gpu installed in place of onnxruntime)
    python benchmarks/embed_throughput.py --only d_dlib,d_insightface --cluster local:2
        # (d) also on a Dask cluster (facesets[cluster]): images/s beside the one-machine
        # figure, their ratio, and whether the catalogs hold the same faces
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _embedbench import (  # noqa: E402
    CACHE, TreeRSS, ensure_photos, match, peak_rss_mb, photo_paths, truth_faces, truth_recall, unmatched,
)

DET_SIZE = 640
VARIANTS = ("a", "b", "c_dlib", "c_insightface", "c_detect", "d_dlib", "d_insightface", "d_insightface_640")
DEVICE = "cpu"  # --device: onnxruntime provider for (b), (c) and (d) with insightface
CROWD = "ssh_t2.jpg"  # ../shared/data/photos: a 5334 x 2767 crowd, about 67 faces
MIN_FACE = None  # --min-face: EmbedOptions' default unless given
EXTRA = {"d_insightface_reduced": "insightface with --reduced-decode (JPEGs decoded DCT-reduced to "
                                  "SCRFD's size; small faces re-read for their chips)"}


def models_dir() -> Path:
    """A test pack (real SCRFD det_500m + random IResNet-50) built once in the cache."""
    from facesets.testing import build_test_pack

    folder = CACHE / "models_r50"
    pack = folder / "buffalo_l"
    if not (pack / "w600k_r50.onnx").exists():
        build_test_pack(folder, recogniser="r50")
    return folder


# --------------------------------------------------------------------------- the variants

def run_a(paths: list[Path]) -> dict:
    """face_recognition's loop (load_image_file + face_locations(upsample=1) + face_encodings),
    with EXIF orientation applied so rotated photos are not a free miss."""
    import dlib
    from PIL import Image, ImageOps

    from facesets.engines.dlib_engine import face_recognition_model  # not the package's own
    # __init__: it imports pkg_resources, which setuptools >= 81 no longer ships

    hog = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(str(face_recognition_model("shape_predictor_5_face_landmarks.dat")))
    net = dlib.face_recognition_model_v1(str(face_recognition_model("dlib_face_recognition_resnet_model_v1.dat")))
    faces = {}
    start = time.perf_counter()
    cpu0 = cpu_seconds()
    for path in paths:
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        found = []
        for rect in hog(rgb, 1):
            landmarks = shape(rgb, rect)
            vector = np.asarray(net.compute_face_descriptor(rgb, landmarks, 1), np.float32)
            found.append(([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], vector))
        faces[path.name] = found
    return {"seconds": time.perf_counter() - start, "cpu_seconds": cpu_seconds() - cpu0, "faces": faces}


def _insight_models():
    """The models as insightface's examples load them: default session options (facesets'
    copies of the package's SCRFD and ArcFace classes, equal to it: tests/test_insightface_equal.py)."""
    import onnxruntime as ort

    from facesets.engines.onnx_models import ArcFace
    from facesets.engines.providers import choose_providers
    from facesets.engines.scrfd import SCRFD

    folder = models_dir() / "buffalo_l"
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no more than that: SCRFD's declared output sizes (providers.py)

    def session(name: str):
        return ort.InferenceSession(str(folder / name), options, providers=choose_providers(DEVICE))

    det = SCRFD(session("det_10g.onnx"), det_thresh=0.5, input_size=(DET_SIZE, DET_SIZE))
    rec = ArcFace(session("w600k_r50.onnx"), folder / "w600k_r50.onnx")
    return det, rec


def run_b(paths: list[Path]) -> dict:
    """The loop of InsightFace's examples: FaceAnalysis-style, one face at a time."""
    import cv2

    from facesets.engines.face_align import norm_crop

    det, rec = _insight_models()
    faces = {}
    start = time.perf_counter()
    cpu0 = cpu_seconds()
    for path in paths:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # the package takes BGR as read
        boxes, kpss = det.detect(rgb, input_size=(DET_SIZE, DET_SIZE))
        found = []
        for box, kps in zip(boxes, kpss):
            chip = norm_crop(rgb, kps, 112)
            vector = np.asarray(rec.get_feat(chip), np.float32).ravel()
            found.append((box[:4].tolist(), vector))
        faces[path.name] = found
    return {"seconds": time.perf_counter() - start, "cpu_seconds": cpu_seconds() - cpu0, "faces": faces}


def _best_rate(fn, sizes, items_of) -> tuple[float, int]:
    best = (0.0, 0)
    for size in sizes:
        fn(size)  # warm-up
        start, reps = time.perf_counter(), 0
        while reps < 2 or time.perf_counter() - start < 3.0:
            fn(size)
            reps += 1
        rate = items_of(size) * reps / (time.perf_counter() - start)
        best = max(best, (rate, size))
    return best


def run_c_dlib(paths: list[Path]) -> dict:
    """dlib models alone: the engine's detection (HOG + YuNet proposals + HOG confirmations +
    shape) on pre-decoded images, descriptors on pre-aligned chips in the best batch."""
    from facesets.engines import EngineOptions, load_engine
    from facesets.media import read_image

    engine = load_engine(EngineOptions(engine="dlib"))
    sample = paths[: min(8, len(paths))]
    inputs = [(read_image(p, reduce_to=engine.decode_side), read_image(p)) for p in sample]
    chips = []
    for image, full in inputs:  # warm-up, and the chips
        chips += [engine.align(full.rgb, d) for d in engine.detect_image(image, lambda _s, f=full: f)]
    start = time.perf_counter()
    for image, full in inputs:
        engine.detect_image(image, lambda _s, f=full: f)
    det_seconds = (time.perf_counter() - start) / len(inputs)
    chips = (chips or [np.zeros((150, 150, 3), np.uint8)]) * 4
    rate, batch = _best_rate(lambda n: engine.embed_chips(chips[:n]), (1, 8, 32), lambda n: n)
    # dlib's models run on one core each: on N cores the models alone go N times as fast
    return {"det_seconds_per_image": det_seconds, "rec_faces_per_s": rate, "best_batch": batch,
            "parallel": len(os.sched_getaffinity(0))}


def run_c_insightface(paths: list[Path]) -> dict:
    """SCRFD on the pre-resized 640 input and the recogniser on pre-aligned chips (best batch),
    each on the engine's own sessions."""
    import cv2
    from facesets.engines import EngineOptions, load_engine
    from facesets.media import read_image

    engine = load_engine(EngineOptions(engine="insightface", models=str(models_dir()), download=False,
                                       device=DEVICE))
    sample = paths[: min(8, len(paths))]
    decoded, cpu0 = paths[:24], time.process_time()
    for p in decoded:  # what (d) does besides the models: full decode and SCRFD's resize, one thread
        engine.prepare(read_image(p))
    decode_cpu = (time.process_time() - cpu0) / len(decoded)
    inputs = []
    for p in sample:
        rgb = read_image(p, reduce_to=DET_SIZE * 2).rgb
        factor = DET_SIZE / max(rgb.shape[:2])
        inputs.append(cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA))
    chips = []
    for rgb in inputs:
        chips += [engine.align(rgb, d) for d in engine.detect(rgb)]
    for rgb in inputs:  # warm
        engine.detect(rgb)
    start = time.perf_counter()
    for _ in range(2):
        for rgb in inputs:
            engine.detect(rgb)
    det_seconds = (time.perf_counter() - start) / (2 * len(inputs))
    chips = (chips or [np.zeros((112, 112, 3), np.uint8)]) * 8
    rate, batch = _best_rate(lambda n: engine.embed_chips(chips[:n]), (1, 4, 16), lambda n: n)
    return {"det_seconds_per_image": det_seconds, "rec_faces_per_s": rate, "best_batch": batch,
            "providers": engine.providers, "decode_cpu_seconds_per_image": decode_cpu}


def embed_options(**kwargs):
    from facesets.embed import EmbedOptions

    return EmbedOptions(**kwargs, **({} if MIN_FACE is None else {"min_face": MIN_FACE}))


def run_d(paths: list[Path], engine_name: str, workers: int | None, reduced: bool = False,
          look_again: bool = True, cluster: str | None = None) -> dict:
    from facesets.catalog import Catalog
    from facesets.config import shared_dir
    from facesets.embed import ClusterOptions, embed
    from facesets.engines import EngineOptions, load_engine

    options = EngineOptions(engine=engine_name, download=False,
                            device=DEVICE if engine_name == "insightface" else "auto",
                            models=str(models_dir()) if engine_name == "insightface" else None)
    engine = load_engine(options)
    if not look_again:
        engine.look_again = False
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "src"
        folder.mkdir()
        for p in paths:  # the set may be larger than --count: embed exactly these files
            os.symlink(p, folder / p.name)
        with Catalog.open(Path(tmp) / "c.db", create=True) as catalog:
            start = time.perf_counter()
            cpu0 = cpu_seconds()
            options = embed_options(workers=workers, reduced_decode=True if reduced else None,
                                    cluster=ClusterOptions(cluster) if cluster else None)
            first: list[float] = []  # when the first batch was committed: start-up (a cluster's too) behind it

            def progress(phase, advance, total):
                if phase == "embed" and advance and not first:
                    first.append(time.perf_counter())

            with TreeRSS() as tree:  # worker processes (dlib, a LocalCluster) count too
                result = embed(catalog, [folder], engine=engine, options=options, progress=progress)
            end = time.perf_counter()
            cpu = cpu_seconds() - cpu0
            rows = catalog.faces.all()
        with Catalog.open(Path(tmp) / "crowd.db", create=True) as catalog:  # untimed
            crowd = embed(catalog, [shared_dir() / "data" / "photos" / CROWD], engine=engine,
                          options=embed_options(workers=workers)).faces
    faces = {p.name: [] for p in paths}
    for face in rows:
        faces.setdefault(Path(face.path).name, []).append((list(face.box), face.embedding))
    return {"seconds": end - start, "cpu_seconds": cpu, "faces": faces, "errors": result.errors,
            "tree_rss_mb": round(tree.peak_mb, 1), "crowd_faces": crowd,
            "first_commit_seconds": first[0] - start if first else None}


def run_c_detect(paths: list[Path]) -> dict:
    """The small-face detection variants (benchmarks/_detectbench.py) on every photo of the set."""
    from _detectbench import measure

    from facesets.config import shared_dir
    from facesets.engines import EngineOptions, load_engine

    engine = load_engine(EngineOptions(engine="insightface", models=str(models_dir()), download=False,
                                       device=DEVICE))
    names = {p.name for p in paths}
    truth = {k: v for k, v in truth_faces(paths[0].parent).items() if k in names}
    return measure(engine, paths, truth, shared_dir() / "data" / "photos" / CROWD, embed_options().min_face)


def cpu_seconds() -> float:
    """CPU time of this process and its finished worker processes."""
    return sum(u.ru_utime + u.ru_stime for u in
               (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def child(variant: str, photos: Path, count: int, out: Path, workers: int | None, cluster: str | None = None) -> None:
    paths = photo_paths(photos)[:count]
    if variant == "a":
        res = run_a(paths)
    elif variant == "b":
        res = run_b(paths)
    elif variant == "c_dlib":
        res = run_c_dlib(paths)
    elif variant == "c_insightface":
        res = run_c_insightface(paths)
    elif variant == "c_detect":
        res = run_c_detect(paths)
    else:
        res = run_d(paths, variant.split("_")[1], workers, reduced=variant.endswith("_reduced"),
                    look_again=not variant.endswith("_640"),
                    cluster=cluster if variant.endswith("_cluster") else None)
    res["peak_rss_mb"] = max(peak_rss_mb(), res.pop("tree_rss_mb", 0.0))
    res["images"] = len(paths)
    if "faces" in res:
        res["faces"] = {k: [(list(map(float, b)), e.tolist()) for b, e in v] for k, v in res["faces"].items()}
    out.write_text(json.dumps(res))


# --------------------------------------------------------------------------- the report

def summary(res: dict) -> dict:
    n = sum(len(v) for v in res["faces"].values())
    return {"images_per_s": round(res["images"] / res["seconds"], 3),
            "faces_per_s": round(n / res["seconds"], 3), "faces": n,
            "seconds": round(res["seconds"], 1), "cpu_seconds": round(res.get("cpu_seconds", 0.0), 1),
            "peak_rss_mb": res["peak_rss_mb"]}


def faces_of(res: dict) -> dict:
    return {k: [(b, np.asarray(e, np.float32)) for b, e in v] for k, v in res["faces"].items()}


def ceiling(c: dict, faces_per_image: float) -> float:
    return c.get("parallel", 1) / (c["det_seconds_per_image"] + faces_per_image / c["rec_faces_per_s"])


def decode_bound(c: dict, faces_per_image: float, cores: int) -> float | None:
    """The most (d) can reach where the models already keep every core busy: their time plus
    the full-resolution decode's CPU time shared over the cores (no other overhead at all)."""
    if "decode_cpu_seconds_per_image" not in c:
        return None
    return 1.0 / (1.0 / ceiling(c, faces_per_image) + c["decode_cpu_seconds_per_image"] / cores)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40, help="photos to embed (default 40)")
    ap.add_argument("--full", action="store_true", help="the 300-photo set")
    ap.add_argument("--photos", help="an existing folder of photos (default: generated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="decode threads for (d)")
    ap.add_argument("--device", default="cpu", help="onnxruntime provider for the insightface "
                    "variants: cpu (default), cuda, directml, coreml")
    ap.add_argument("--only", default=",".join(VARIANTS),
                    help="comma-separated subset of " + ",".join(VARIANTS + tuple(EXTRA)))
    ap.add_argument("--reuse", default="", help="comma-separated variants whose last result on this "
                    "set is reused from the cache (e.g. a,b while tuning (d))")
    ap.add_argument("--min-face", type=int, default=None, help="embed's --min-face for (c_detect) and (d) "
                    "(default: embed's own default)")
    ap.add_argument("--cluster", help="also run each (d) on this Dask cluster (local:N, tcp://HOST:PORT) and "
                    "print its images/s beside the one-machine figure")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    count = 300 if args.full else args.count
    global DEVICE, MIN_FACE
    DEVICE, MIN_FACE = args.device, args.min_face
    photos = ensure_photos(300 if args.full else count, args.seed, args.photos)
    if args.child:
        child(args.child, photos, count, Path(args.result), args.workers, args.cluster)
        return 0
    results = {}
    models_dir()
    variants = args.only.split(",")
    if args.cluster:
        variants += [f"{v}_cluster" for v in variants if v in ("d_dlib", "d_insightface")]
    for variant in variants:
        where = f"_{args.cluster.replace(':', '').replace('/', '')}" if variant.endswith("_cluster") else ""
        out = CACHE / "results" / f"{photos.name}_c{count}_{variant}{where}{'' if args.device == 'cpu' else '_' + args.device}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        if variant in args.reuse.split(",") and out.exists():
            results[variant] = json.loads(out.read_text())
            print(f"reusing {variant} from {out}")
            continue
        cmd = [sys.executable, __file__, "--child", variant, "--result", str(out), "--count", str(count),
               "--seed", str(args.seed)]
        cmd += ["--photos", str(photos)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        if args.min_face is not None:
            cmd += ["--min-face", str(args.min_face)]
        cmd += ["--device", args.device]
        if variant.endswith("_cluster"):
            cmd += ["--cluster", args.cluster]
        print(f"running {variant} on {count} photos ...", flush=True)
        subprocess.run(cmd, check=True)
        results[variant] = json.loads(out.read_text())
    report = report_figures(results, photos, count)
    if args.cluster:
        report["cluster"] = cluster_figures(results, args.cluster)
    print(json.dumps(report))
    return 0


def cluster_figures(results: dict, spec: str) -> dict:
    """(d) on the cluster beside (d) on one machine: images/s end to end (the cluster's start-up
    and its workers' engine loading included), their ratio, and the seconds to the first commit."""
    figures: dict = {"spec": spec}
    for engine in ("dlib", "insightface"):
        one, spread = results.get(f"d_{engine}"), results.get(f"d_{engine}_cluster")
        if not one or not spread:
            continue
        a, b = summary(one), summary(spread)
        total, found, cos = match(faces_of(one), faces_of(spread))
        row = {"one_machine_images_per_s": a["images_per_s"], "cluster_images_per_s": b["images_per_s"],
               "ratio": round(b["images_per_s"] / a["images_per_s"], 3),
               "one_machine_first_commit_s": _round(one.get("first_commit_seconds")),
               "cluster_first_commit_s": _round(spread.get("first_commit_seconds")),
               "faces": b["faces"], "faces_matched": f"{found}/{total}",
               "min_cosine": round(min(cos), 6) if cos else None, "peak_rss_mb": b["peak_rss_mb"]}
        figures[engine] = row
        print(f"d_{engine}: one machine {a['images_per_s']:.3f} images/s, --cluster {spec} {b['images_per_s']:.3f} "
              f"images/s: ratio {row['ratio']:.2f} (first batch committed after {row['one_machine_first_commit_s']} s "
              f"vs {row['cluster_first_commit_s']} s); faces {found}/{total}, cosine min {row['min_cosine']}")
    return figures


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def report_figures(results: dict, photos: Path, count: int) -> dict:
    truth = {k: v for k, v in truth_faces(photos).items() if k in {p.name for p in photo_paths(photos)[:count]}}
    report: dict = {"photos": count, "truth_faces": sum(len(v) for v in truth.values())}
    rows = {}
    for key in ("a", "b", "d_dlib", "d_insightface", "d_insightface_640", *EXTRA):
        if key in results:
            rows[key] = summary(results[key])
            rows[key]["truth_recall"] = round(truth_recall(truth, faces_of(results[key])), 3)
            rows[key]["unmatched"] = unmatched(truth, faces_of(results[key]))[0]
            rows[key]["crowd_faces"] = results[key].get("crowd_faces")
    for key, row in rows.items():
        crowd = "" if row["crowd_faces"] is None else f", {row['crowd_faces']} on {CROWD}"
        print(f"{key:22s} {row['images_per_s']:7.3f} images/s {row['faces_per_s']:7.3f} faces/s "
              f"{row['faces']:4d} faces (truth recall {row['truth_recall']:.3f}, {row['unmatched']} unmatched"
              f"{crowd}) {row['seconds']:7.1f} s ({row['cpu_seconds']:.0f} CPU s)  peak RSS {row['peak_rss_mb']:.0f} MB")
    recalls, cosines = [], []
    for d in [k for k in rows if k.startswith("d_")]:
        engine = d.split("_")[1]
        ref = "a" if engine == "dlib" else "b"
        primary = d == f"d_{engine}"
        fig = report.setdefault(engine if primary else d, {})
        fig["d"] = rows[d]
        if ref in rows:
            fig[ref] = rows[ref]
            total, found, cos = match(faces_of(results[ref]), faces_of(results[d]))
            fig["ratio"] = round(rows[d]["images_per_s"] / rows[ref]["images_per_s"], 2)
            fig["cpu_ratio"] = round(rows[ref]["cpu_seconds"] / max(rows[d]["cpu_seconds"], 1e-9), 2)
            fig["face_recall"] = round(found / total, 4) if total else 1.0
            fig["min_cosine"] = round(min(cos), 4) if cos else None
            fig["median_cosine"] = round(float(np.median(cos)), 4) if cos else None
            if primary:
                recalls.append(fig["face_recall"])
                cosines += cos
            print(f"{d}: d/{ref} = {fig['ratio']:.2f}x (CPU time {fig['cpu_ratio']:.2f}x), (d) finds "
                  f"{found}/{total} of ({ref})'s faces, cosine min {fig['min_cosine']} median {fig['median_cosine']}")
        c = results.get(f"c_{engine}")
        if c:
            fpi = rows[d]["faces"] / count
            fig["ceiling_images_per_s"] = round(ceiling(c, fpi), 3)
            fig["ceiling_share"] = round(rows[d]["images_per_s"] / fig["ceiling_images_per_s"], 3)
            fig["ceiling_detail"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.items()
                                     if k != "faces"}
            print(f"{d}: model-only ceiling {fig['ceiling_images_per_s']:.3f} images/s at "
                  f"{fpi:.2f} faces/image (det {c['det_seconds_per_image'] * 1000:.0f} ms/image, "
                  f"rec {c['rec_faces_per_s']:.1f} faces/s at batch {c['best_batch']}"
                  f"{', one process on each of %d cores' % c['parallel'] if c.get('parallel', 1) > 1 else ''}); "
                  f"d/ceiling = {fig['ceiling_share']:.2f}")
            cores = len(os.sched_getaffinity(0))
            bound = decode_bound(c, fpi, cores)
            if bound and d == "d_insightface":
                fig["decode_bound_share"] = round(bound / fig["ceiling_images_per_s"], 3)
                print(f"{d}: full-resolution decode + SCRFD resize "
                      f"{c['decode_cpu_seconds_per_image'] * 1000:.1f} ms CPU/image; models + decode on "
                      f"{cores} cores allow at most {bound:.3f} images/s = "
                      f"{fig['decode_bound_share']:.2f} of the ceiling")
    if "c_detect" in results:
        from _detectbench import print_table

        print_table(results["c_detect"])
        report["detection"] = results["c_detect"]
    if "d_insightface" in rows and "d_insightface_640" in rows:
        ratio = rows["d_insightface"]["cpu_seconds"] / max(rows["d_insightface_640"]["cpu_seconds"], 1e-9)
        report["insightface"]["run_cpu_ratio_vs_640"] = round(ratio, 3)
        print(f"d_insightface: the whole run's CPU (decode, detection, embedding the faces now found) "
              f"{ratio:.2f}x that of d_insightface_640")
    report.update({
        "truth_recall_insightface": rows.get("d_insightface", {}).get("truth_recall"),
        "unmatched_insightface": rows.get("d_insightface", {}).get("unmatched"),
        "crowd_faces": {k: r["crowd_faces"] for k, r in rows.items() if r["crowd_faces"] is not None},
        "detection_cpu_ratio": results.get("c_detect", {}).get("variants", {}).get("second look", {}).get("cpu_ratio"),
        "ratio_dlib": report.get("dlib", {}).get("ratio"),
        "ratio_insightface": report.get("insightface", {}).get("ratio"),
        "ceiling_share": report.get("insightface", {}).get("ceiling_share"),
        "face_recall": min(recalls) if recalls else None,
        "min_cosine": round(min(cosines), 4) if cosines else None,
        "peak_rss_mb": max((r["peak_rss_mb"] for k, r in rows.items() if k.startswith("d_")), default=None),
        "cpu_count": len(os.sched_getaffinity(0)),
        "load_average_1m": round(os.getloadavg()[0], 2),
    })
    return report


if __name__ == "__main__":
    raise SystemExit(main())
