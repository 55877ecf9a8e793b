"""Incremental embed: a second `facesets embed` over an unchanged tree opens no image.

Runs the real command twice on the same folder and catalog and prints both wall times, the
ratio (issue 3 asks for under 1/10) and how many images each run decoded. The last line is JSON.

    python benchmarks/embed_incremental.py                     # 24 generated 12 MP photos, dlib
    python benchmarks/embed_incremental.py --src ../shared/data/faces/five_celebrity
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _embedbench import ensure_photos  # noqa: E402


def run_embed(src: list[str], db: Path, engine: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "facesets", "embed", *src, "--catalog", str(db),
                    "--engine", engine, "-q"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def last_run(db: Path) -> dict:
    from facesets.catalog import Catalog

    with Catalog.open(db, readonly=True) as catalog:
        run = catalog.runs.last("embed")
    return run.stats if run and run.stats else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", nargs="*", help="folders to embed (default: generated photos)")
    ap.add_argument("--count", type=int, default=24, help="generated photos when --src is not given")
    ap.add_argument("--engine", default="dlib")
    args = ap.parse_args(argv)
    src = args.src or [str(ensure_photos(args.count))]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "catalog.db"
        first = run_embed(src, db, args.engine)
        first_stats = last_run(db)
        second = run_embed(src, db, args.engine)
        second_stats = last_run(db)
    ratio = second / first
    print(f"first run  {first:7.2f} s  ({first_stats.get('decoded')} images decoded, "
          f"{first_stats.get('faces')} faces)")
    print(f"second run {second:7.2f} s  ({second_stats.get('decoded')} images decoded)")
    print(f"ratio {ratio:.3f} ({'under' if ratio < 0.1 else 'NOT under'} 1/10)")
    print(json.dumps({"first_s": round(first, 2), "second_s": round(second, 2), "ratio": round(ratio, 4),
                      "first_decoded": first_stats.get("decoded"), "second_decoded": second_stats.get("decoded"),
                      "files": first_stats.get("files_scanned"), "engine": args.engine}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
