"""Deterministic 'camera roll' for throughput benchmarks: 12 MP JPEGs with LFW faces.

Each photo is 4000x3000 or 3000x4000 as displayed, JPEG quality 90, with an EXIF
DateTimeOriginal and an EXIF orientation (1-8 in turn; the stored pixels are rotated so
the photo is upright once the tag is applied), holding 0-4 LFW head crops blended onto a
smooth, noisy background with blurred shapes. Face widths (a detector's box) are
log-uniform in 60-600 px.
A `truth.json` beside the photos lists the pasted face boxes (displayed pixels; generous
boxes: a face counts as found when a detection's centre lies inside one).

    python benchmarks/make_photos.py --out /tmp/photos --count 300 --seed 0
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from facesets.config import shared_dir

DEFAULT_FACES = shared_dir() / "data" / "faces" / "lfw158"  # FACESETS_SHARED moves it
LFW_FACE_WIDTH = 55.0       # a detector's face box in a 250x250 LFW crop is about this wide
HEAD = (25, 225)            # the square of the LFW crop that is pasted (head + a little background)
TRANSPOSE = {               # stored = op(upright) so that applying the EXIF tag gives upright
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
}


def face_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.jpg"))


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Gradient + soft blobs composed at 1/8 scale, upscaled, then sensor-like noise."""
    sw, sh = width // 8, height // 8
    grid = rng.uniform(30, 225, (3, 4, 3)).astype(np.float32)
    small = cv2.resize(grid, (sw, sh), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(4, 12))):
        colour = rng.uniform(0, 255, 3).tolist()
        centre = (int(rng.integers(0, sw)), int(rng.integers(0, sh)))
        axes = (int(rng.integers(sw // 20, sw // 4)), int(rng.integers(sh // 20, sh // 4)))
        layer = small.copy()
        if rng.random() < 0.5:
            cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            cv2.rectangle(layer, centre, (centre[0] + axes[0], centre[1] + axes[1]), colour, -1)
        alpha = float(rng.uniform(0.3, 0.8))
        small = cv2.addWeighted(layer, alpha, small, 1 - alpha, 0)
    small = cv2.GaussianBlur(small, (0, 0), float(rng.uniform(1.0, 4.0)))
    big = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    tile = rng.normal(0, 4, (512, 512, 3)).astype(np.int16)
    noise = np.tile(tile, (height // 512 + 1, width // 512 + 1, 1))[:height, :width]
    return np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def paste_face(canvas: np.ndarray, face_rgb: np.ndarray, face_width: float, x: int, y: int) -> list[float]:
    """Blend the head crop so the face is `face_width` px wide, top-left of the crop at (x, y)."""
    head = face_rgb[HEAD[0]:HEAD[1], HEAD[0]:HEAD[1]]
    factor = face_width / LFW_FACE_WIDTH
    side = max(8, int(round(head.shape[0] * factor)))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    head = cv2.resize(head, (side, side), interpolation=interp).astype(np.float32)
    mask = np.zeros((side, side), np.float32)
    cv2.ellipse(mask, (side // 2, int(side * 0.52)), (int(side * 0.40), int(side * 0.48)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, side * 0.05))[..., None]
    region = canvas[y:y + side, x:x + side].astype(np.float32)
    canvas[y:y + side, x:x + side] = np.clip(head * mask + region * (1 - mask), 0, 255).astype(np.uint8)
    half = side * 0.3  # generous: a detector's box centre falls inside it
    cx, cy = x + side / 2, y + side * 0.5
    return [cx - half, cy - half, cx + half, cy + half]


def make_one(index: int, seed: int, faces: list[str], out: str) -> dict:
    rng = np.random.default_rng([seed, index])
    portrait = bool(rng.random() < 0.35)
    width, height = (3000, 4000) if portrait else (4000, 3000)
    canvas = background(rng, width, height)
    boxes, taken, sources = [], [], []
    for _ in range(int(rng.integers(0, 5))):
        face_width = float(np.exp(rng.uniform(np.log(60), np.log(600))))
        side = int(round((HEAD[1] - HEAD[0]) * face_width / LFW_FACE_WIDTH))
        for _attempt in range(30):
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            if all(x + side < a or x > b or y + side < c or y > d for a, c, b, d in taken):
                break
        else:
            continue
        src = faces[int(rng.integers(0, len(faces)))]
        face = cv2.cvtColor(cv2.imread(src), cv2.COLOR_BGR2RGB)
        boxes.append([round(v, 1) for v in paste_face(canvas, face, face_width, x, y)])
        taken.append((x, y, x + side, y + side))
        sources.append(os.path.relpath(src, os.path.dirname(os.path.dirname(src))))
    orientation = index % 8 + 1
    image = Image.fromarray(canvas)
    if TRANSPOSE[orientation] is not None:
        image = image.transpose(TRANSPOSE[orientation])
    when = dt.datetime(2019, 1, 1) + dt.timedelta(minutes=int(rng.integers(0, 3 * 365 * 24 * 60)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "facesets"
    exif.get_ifd(0x8769)[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")
    name = f"IMG_{index:04d}.jpg"
    image.save(os.path.join(out, name), "JPEG", quality=90, exif=exif.tobytes())
    return {"file": name, "width": width, "height": height, "orientation": orientation,
            "taken_at": when.isoformat(), "faces": boxes, "sources": sources}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--faces", default=str(DEFAULT_FACES), help="folder of LFW-style 250x250 crops")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    faces = [str(p) for p in face_files(Path(args.faces))]
    if not faces:
        print(f"no faces under {args.faces}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        truth = list(pool.map(make_one, range(args.count), [args.seed] * args.count,
                              [faces] * args.count, [str(out)] * args.count))
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    n_faces = sum(len(t["faces"]) for t in truth)
    seconds = time.perf_counter() - start
    print(f"{args.count} photos, {n_faces} faces in {out} ({seconds:.1f} s)")
    print(json.dumps({"photos": args.count, "faces": n_faces, "seconds": round(seconds, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
