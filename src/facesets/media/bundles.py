"""The formats facesets writes for other tools, each written by one function:

- roop-unleashed `.fsz` bundles: a stored (uncompressed) zip of 0.png, 1.png, ... best first,
  members with a fixed timestamp and mode, so the same faceset always gives the same bytes;
  `<label>_all.fsz` holds every crop, `<label>_top<N>.fsz` the best N;
- manifests: JSON, keys sorted, UTF-8, newline-terminated.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_TOP = re.compile(r"_top(\d+)\.fsz$")


def fsz_bytes(pngs: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as bundle:
        for index, data in enumerate(pngs):
            info = zipfile.ZipInfo(f"{index}.png", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            bundle.writestr(info, data)
    return buffer.getvalue()


def bundle_names(label: str, top_n: int) -> list[str]:
    """The bundles of one faceset: the best `top_n`, then all."""
    return [f"{label}_top{top_n}.fsz", f"{label}_all.fsz"]


def bundle_size(name: str) -> int | None:
    """How many crops a bundle of this name holds at most: N for `_topN.fsz`, None for `_all.fsz`."""
    match = _TOP.search(name)
    return int(match.group(1)) if match else None


def bundles_of(folder: Path, label: str) -> list[str]:
    """The bundles of `label` present in `folder` (its _all and every _topN one), by name."""
    pattern = re.compile(re.escape(label) + r"_(all|top\d+)\.fsz")
    return sorted(p.name for p in folder.glob("*.fsz") if pattern.fullmatch(p.name))


def json_bytes(data) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")
