"""XMP face regions written and read by ExifTool, the independent reader and writer the tests
check facesets against, and photos with known faces to put them on."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from PIL import Image

from facesets.config import shared_dir

KNN = shared_dir() / "data" / "faces" / "face_recognition_examples" / "knn_examples"
EXIFTOOL = shutil.which("exiftool")
# dlib's boxes on two photos (the identities checked against the knn_examples train photos)
BIDEN, OBAMA = (738, 432, 954, 645), (1126, 404, 1331, 607)        # obama_and_biden.jpg, 2000 x 1428
KIT, ROSE = (241, 95, 348, 201), (81, 128, 157, 203)                # kit_with_rose.jpg, 501 x 700
NOBODY = (380, 520, 470, 610)                                       # a region where no face was detected


def exiftool(*args) -> str:
    assert EXIFTOOL, "ExifTool is needed (Debian: apt-get install libimage-exiftool-perl)"
    proc = subprocess.run([EXIFTOOL, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def write_regions(path: Path, regions: list[tuple[str, tuple[float, float, float, float]]], width: int, height: int,
                  out: Path | None = None) -> None:
    """MWG regions (name, box in upright pixels) into `path` with ExifTool, or into a new
    sidecar `out` made from it."""
    items = []
    for name, (x1, y1, x2, y2) in regions:
        items.append(f"{{Area={{X={(x1 + x2) / 2 / width:.5f},Y={(y1 + y2) / 2 / height:.5f},"
                     f"W={(x2 - x1) / width:.5f},H={(y2 - y1) / height:.5f},Unit=normalized}},Name={name},Type=Face}}")
    value = f"{{AppliedToDimensions={{W={width},H={height},Unit=pixel}},RegionList=[{','.join(items)}]}}"
    if out is None:
        exiftool("-q", "-overwrite_original", f"-XMP-mwg-rs:RegionInfo={value}", path)
    else:
        exiftool("-q", "-o", out, f"-XMP-mwg-rs:RegionInfo={value}", path)


def read_regions(path: Path) -> list[dict]:
    """The regions ExifTool reads in a file: [{name, x, y, w, h}] (normalised centre and size)."""
    data = json.loads(exiftool("-j", "-struct", "-XMP-mwg-rs:RegionInfo", path))[0]
    regions = data.get("RegionInfo", {}).get("RegionList", [])
    return [{"name": r.get("Name"), **{k.lower(): float(r["Area"][k]) for k in "XYWH"}} for r in regions]


def rotated_copy(source: Path, target: Path) -> Path:
    """The photo stored turned a quarter to the left, with EXIF orientation 6 (turn right to
    show): the upright image, and so its regions, are the original's."""
    with Image.open(source) as image:
        image.transpose(Image.Transpose.ROTATE_90).save(target, quality=95)
    exiftool("-q", "-overwrite_original", "-Orientation#=6", target)
    return target


def grown(box, factor: float = 1.5) -> tuple[float, float, float, float]:
    """A face box as taggers draw it: larger than a detector's, about the same centre."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, half_w, half_h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h
