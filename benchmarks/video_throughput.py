"""Video throughput: seconds of video processed per wall-clock second by `facesets embed` on a
1080p clip at the default step (a frame a second plus scene changes), for the dlib engine and
the InsightFace engine (test pack: the real SCRFD det_500m detector + a random ArcFace-shaped
recogniser). The clip is written with OpenCV (MPEG-4 part 2, 30 fps) from lfw158 faces, a shot
every 4 s panning 90 px a second (so no sample is a repeat); the decode-only pass (every frame
decoded, the samples converted) is the ceiling.

    python benchmarks/video_throughput.py [--seconds 20] [--step 1.0] [--engines dlib,insightface]

Last line: JSON {"dlib": {"video_s_per_s": x, ...}, "insightface": {...}, "decode_only_video_s_per_s": y}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import bench_engine, peak_rss_mb  # noqa: E402

PEOPLE = ("George_W_Bush", "Colin_Powell", "Tony_Blair", "Serena_Williams", "Junichiro_Koizumi")


def make_clip(path: Path, seconds: float, fps: float = 30.0) -> Path:
    from facesets.testing import lfw_face, write_video

    shots = [(lfw_face(PEOPLE[n % len(PEOPLE)], n // len(PEOPLE), side=700), 4.0) for n in range(int(seconds // 4))]
    write_video(path, shots, size=(1920, 1080), fps=fps, drift=3.0)   # a pan: every step is sampled
    return path


def decode_only(clip: Path, step: float) -> dict:
    from facesets.media.video import SampleStats, sample_frames

    stats = SampleStats()
    start = time.perf_counter()
    sampled = sum(1 for _ in sample_frames(clip, step, stats=stats))
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "sampled": sampled, "decoded": stats.decoded,
            "video_s_per_s": round(stats.info.seconds / seconds, 2)}


def measure(engine, clip: Path, video_seconds: float, step: float, work: Path) -> dict:
    from facesets.catalog import Catalog
    from facesets.embed import EmbedOptions, embed

    with Catalog.open(work / f"{engine.engine}-{time.monotonic_ns()}.db") as catalog:
        start, cpu = time.perf_counter(), time.process_time()
        result = embed(catalog, [clip], engine=engine, options=EmbedOptions(video_step=step))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert result.errors == 0, result.error_reasons
    return {"seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "faces": result.faces,
            "video_s_per_s": round(video_seconds / seconds, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the 1080p clip")
    ap.add_argument("--step", type=float, default=1.0, help="--video-step (the default is 1 s)")
    ap.add_argument("--engines", default="dlib,insightface")
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = ap.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="video_bench_"))
    clip = make_clip(work / "clip.mp4", args.seconds)
    print(f"{clip}: 1920x1080, 30 fps, {args.seconds:.0f} s, {clip.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    ceiling = decode_only(clip, args.step)
    print(f"decode only   {ceiling['decoded']} frames decoded, {ceiling['sampled']} sampled, {ceiling['seconds']} s: "
          f"{ceiling['video_s_per_s']} video s per s", file=sys.stderr)
    summary: dict = {"clip": {"width": 1920, "height": 1080, "fps": 30, "seconds": args.seconds, "step": args.step},
                     "decode_only_video_s_per_s": ceiling["video_s_per_s"], "sampled_frames": ceiling["sampled"]}
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        engine = bench_engine(name, work / "models")
        row = measure(engine, clip, args.seconds, args.step, work)
        print(f"{name:12s} {row['seconds']:7.2f} s wall, {row['cpu_s']:7.2f} s CPU, {row['faces']} faces: "
              f"{row['video_s_per_s']} video s per s", file=sys.stderr)
        summary[name] = row
    summary["peak_rss_mb"] = round(peak_rss_mb())
    summary["cores"] = len(os.sched_getaffinity(0))
    summary["load_average"] = round(os.getloadavg()[0], 2)   # other work on the machine skews every figure
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
