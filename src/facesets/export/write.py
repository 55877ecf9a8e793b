"""Export targets, written into a staging tree:

- crops (always; FaceFusion's source folder): OUT/<faceset>/0.png, 1.png, ... best first,
  with a manifest.json per faceset;
- roop: OUT/<faceset>_top<N>.fsz and OUT/<faceset>_all.fsz, zips of stored N.png members only;
- single: OUT/single/<faceset>.png, the one best crop (Deep-Live-Cam takes one source image);
- folders: OUT/photos/<faceset>/, the original photos of the faceset's faces.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

from .. import outputs
from ..media.bundles import bundle_names, fsz_bytes

TARGETS = ("roop", "facefusion", "single", "folders")


def write_fsz(path: Path, pngs: list[bytes]) -> None:
    """A roop-unleashed faceset bundle (media.bundles' format), written atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(fsz_bytes(pngs))
    os.replace(tmp, path)


def write_faceset(staging: Path, folder: str, pngs: list[bytes], manifest: dict, targets, top_n: int,
                  photos: list[str], link: str) -> dict:
    """Every target for one faceset; returns the files written, relative to OUT."""
    written: dict = {"crops": []}
    crop_dir = staging / folder
    crop_dir.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(pngs):
        (crop_dir / f"{i}.png").write_bytes(data)
        written["crops"].append(f"{folder}/{i}.png")
    outputs.write_json(crop_dir / "manifest.json", manifest)
    if "roop" in targets and pngs:
        top, everything = bundle_names(folder, top_n)
        write_fsz(staging / top, pngs[:top_n])
        write_fsz(staging / everything, pngs)
        written["fsz"] = [top, everything]
    if "single" in targets and pngs:
        (staging / "single").mkdir(exist_ok=True)
        (staging / "single" / f"{folder}.png").write_bytes(pngs[0])
        written["single"] = f"single/{folder}.png"
    if "folders" in targets:
        names = []
        for source in photos:
            name = outputs.stable_name(source)
            target = staging / "photos" / folder / name
            if not target.exists():
                outputs.materialise(source, target, link)
            names.append(f"photos/{folder}/{name}")
        written["photos"] = names
    return written


def contact_sheet(path: Path, title: str, rows: list[dict], per_row: int = 8) -> None:
    """index.html: one row per faceset with its count and best crops (relative links)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;background:#111;color:#eee}"
             ".row{display:flex;align-items:center;gap:6px;margin:8px 0}"
             ".label{width:220px}img{width:96px;height:96px;border-radius:4px}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for row in rows:
        imgs = "".join(f"<img src='{html.escape(src)}' alt='{html.escape(row['label'])} {i}' loading='lazy'>"
                       for i, src in enumerate(row["crops"][:per_row]))
        parts.append(f"<div class='row' data-person='{row['person']}'><div class='label'>"
                     f"<b>{html.escape(row['label'])}</b><br>{row['count']} faces</div>{imgs}</div>")
    if not rows:
        parts.append("<p>No faceset passed the gates.</p>")
    parts.append("</body></html>")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
