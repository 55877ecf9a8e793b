"""Throughput of face crops as input: `crops` and `aligned` modes on 512x512 crops versus
`photos` mode on full-size (12 MP) photos, for the dlib engine and the InsightFace engine
(test pack: the real SCRFD det_500m detector + a random ArcFace-shaped recogniser).

Images per second are whole-pipeline figures (decode, detect, align, embed, commit) measured
in-process on a fresh catalog per run, the engine loaded beforehand.

    python benchmarks/crops_throughput.py [--photos 10] [--crops 48] [--engines dlib,insightface]

Last line: JSON {"dlib": {"crops_vs_photos": x, "aligned_vs_photos": y, ...}, "insightface": {...}}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import FACES, bench_engine  # noqa: E402


def make_photos(out: Path, count: int, seed: int = 0) -> Path:
    from make_photos import face_files, make_one

    out.mkdir(parents=True, exist_ok=True)
    faces = [str(p) for p in face_files(FACES / "lfw158")]
    for i in range(count):
        make_one(i, seed, faces, str(out))
    return out


def make_crops(out: Path, count: int) -> Path:
    """512x512 face crops (head and shoulders, as face-set tools cut them) from LFW photos."""
    from facesets.media import read_image

    out.mkdir(parents=True, exist_ok=True)
    people = sorted(p for p in (FACES / "lfw158").iterdir() if p.is_dir())
    photos = [sorted(person.iterdir())[0] for person in people][:count]
    for i, photo in enumerate(photos):
        rgb = read_image(str(photo)).rgb
        h, w = rgb.shape[:2]
        side = int(min(h, w) * 0.72)
        y, x = (h - side) // 2, (w - side) // 2
        crop = cv2.resize(rgb[y:y + side, x:x + side], (512, 512), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(out / f"{i:04d}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return out


def measure(engine, folder: Path, mode: str, work: Path) -> dict:
    from facesets.catalog import Catalog
    from facesets.embed import EmbedOptions, embed

    db = work / f"{engine.engine}-{mode}-{time.monotonic_ns()}.db"
    calls = engine.detector_calls
    with Catalog.open(db) as catalog:
        start = time.perf_counter()
        result = embed(catalog, [folder], engine=engine, options=EmbedOptions(input_mode=mode))
        seconds = time.perf_counter() - start
    n = result.embedded_files
    from facesets.embed.pipeline import PROCESS_MIN_FILES
    from facesets.workers import default_workers

    # dlib runs in worker processes here: their detector calls are not counted in this one
    in_workers = engine.holds_gil and n >= PROCESS_MIN_FILES and default_workers() > 1
    return {"images": n, "faces": result.faces, "seconds": round(seconds, 2),
            "images_per_s": round(n / seconds, 2) if seconds else None,
            "detector_calls": None if in_workers else engine.detector_calls - calls}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=10, help="12 MP photos for photos mode")
    ap.add_argument("--crops", type=int, default=48, help="512x512 crops for crops and aligned modes")
    ap.add_argument("--engines", default="dlib,insightface")
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = ap.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="crops_bench_"))
    photos = make_photos(work / "photos", args.photos)
    crops = make_crops(work / "crops", args.crops)
    print(f"{args.photos} photos (12 MP), {args.crops} crops (512x512) in {work}", file=sys.stderr)
    summary = {}
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        engine = bench_engine(name, work / "models")
        rows = {mode: measure(engine, folder, mode, work)
                for mode, folder in (("photos", photos), ("crops", crops), ("aligned", crops))}
        for mode, row in rows.items():
            print(f"{name:12s} {mode:8s} {row['images']:4d} images {row['seconds']:7.2f} s "
                  f"{row['images_per_s']:7.2f} images/s  detector calls {row['detector_calls']}", file=sys.stderr)
        base = rows["photos"]["images_per_s"] or float("nan")
        summary[name] = {
            "crops_vs_photos": round(rows["crops"]["images_per_s"] / base, 2),
            "aligned_vs_photos": round(rows["aligned"]["images_per_s"] / base, 2),
            **{f"{mode}_images_per_s": row["images_per_s"] for mode, row in rows.items()},
            "aligned_detector_calls": rows["aligned"]["detector_calls"],
        }
    summary["cores"] = len(os.sched_getaffinity(0))
    summary["load_average"] = round(os.getloadavg()[0], 2)   # other work on the machine skews every figure
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
