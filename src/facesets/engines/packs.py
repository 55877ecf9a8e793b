"""InsightFace model packs: where their weights are found, how they are fetched and checked.

A pack is a folder `<models dir>/<pack>/` of ONNX files. Weights are looked up in
`--models DIR`, `$FACESETS_MODELS` and `~/.insightface/models`; when absent they are
downloaded from the official release (or `$FACESETS_MODEL_URL`) with a progress bar and
every file with a known reference hash is checked before it is used.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from facesets.config import models_dirs
from facesets.engines.base import EngineUnavailable
from facesets.media.hashing import sha256_file

RELEASE_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7"

# Official sha256 of the pack files (shared/models/REFERENCE_SHA256.md).
REFERENCE_SHA256 = {
    "det_10g.onnx": "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
    "w600k_r50.onnx": "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
    "2d106det.onnx": "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
    "1k3d68.onnx": "df5c06b8a0c12e422b2ed8947b8869faa4105387f199c477af038aa01f9a45cc",
    "genderage.onnx": "4fde69b1c810857b88c64a335084f1c3fe8f01246c9a191b48c7bb756d6652fb",
    "det_500m.onnx": "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
    "w600k_mbf.onnx": "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
}


@dataclass(frozen=True)
class Pack:
    name: str
    detector: str
    recogniser: str
    landmarks_2d: str | None = None
    landmarks_3d: str | None = None
    extra: tuple[str, ...] = field(default=())

    @property
    def embed_files(self) -> tuple[str, str]:
        return (self.detector, self.recogniser)

    @property
    def all_files(self) -> tuple[str, ...]:
        names = [self.detector, self.recogniser, self.landmarks_2d, self.landmarks_3d, *self.extra]
        return tuple(n for n in names if n)


PACKS = {
    "buffalo_l": Pack("buffalo_l", "det_10g.onnx", "w600k_r50.onnx", "2d106det.onnx",
                      "1k3d68.onnx", ("genderage.onnx",)),
    "buffalo_s": Pack("buffalo_s", "det_500m.onnx", "w600k_mbf.onnx", "2d106det.onnx",
                      "1k3d68.onnx", ("genderage.onnx",)),
    "antelopev2": Pack("antelopev2", "scrfd_10g_bnkps.onnx", "glintr100.onnx", "2d106det.onnx",
                       "1k3d68.onnx", ("genderage.onnx",)),
}
LICENCE = "InsightFace pretrained weights: non-commercial research use only"


def get_pack(name: str) -> Pack:
    try:
        return PACKS[name]
    except KeyError:
        raise EngineUnavailable(f"unknown InsightFace pack {name!r} (known: {', '.join(PACKS)})") from None


def find_pack_dir(pack: Pack, models: str | os.PathLike | None = None,
                  needed: tuple[str, ...] | None = None) -> Path | None:
    """The first models folder holding every needed file of the pack, else None."""
    needed = needed or pack.embed_files
    for root in models_dirs(models):
        folder = root / pack.name
        if all((folder / name).is_file() for name in needed):
            return folder
    return None


def verify_files(folder: Path, names: tuple[str, ...],
                 expected: dict[str, str] = REFERENCE_SHA256) -> list[str]:
    """Names whose sha256 differs from the reference (files without a reference pass)."""
    bad = []
    for name in names:
        want = expected.get(name)
        if want and sha256_file(folder / name) != want:
            bad.append(name)
    return bad


def ensure_pack(pack_name: str, models: str | os.PathLike | None = None,
                needed: tuple[str, ...] | None = None, download: bool = True,
                expected: dict[str, str] = REFERENCE_SHA256, progress=None) -> Path:
    """The folder of a pack with its needed files present, downloading it if allowed."""
    pack = get_pack(pack_name)
    needed = needed or pack.embed_files
    found = find_pack_dir(pack, models, needed)
    if found:
        return found
    target = models_dirs(models)[0] / pack.name
    if not download:
        raise EngineUnavailable(_missing_message(pack, needed, target))
    base = os.environ.get("FACESETS_MODEL_URL", RELEASE_URL).rstrip("/")
    url = f"{base}/{pack.name}.zip"
    try:
        archive = _download(url, progress)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise EngineUnavailable(
            _missing_message(pack, needed, target) + f" (download from {url} failed: {exc})"
        ) from None
    try:
        _install_archive(archive, target, pack, expected)
    finally:
        archive.unlink(missing_ok=True)
    if not all((target / n).is_file() for n in needed):
        raise EngineUnavailable(_missing_message(pack, needed, target) + " (not in the downloaded archive)")
    return target


def _missing_message(pack: Pack, needed: tuple[str, ...], target: Path) -> str:
    return (f"InsightFace pack {pack.name} not found: need {', '.join(needed)} "
            f"in {target} (or --models DIR / $FACESETS_MODELS)")


def _download(url: str, progress=None) -> Path:
    from rich.progress import (BarColumn, DownloadColumn, Progress, TimeRemainingColumn,
                               TransferSpeedColumn)

    handle, name = tempfile.mkstemp(suffix=".zip")
    os.close(handle)
    path = Path(name)
    bar = progress or Progress("[progress.description]{task.description}", BarColumn(),
                               DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with bar:
        fetch(url, path, bar, f"download {url.rsplit('/', 1)[-1]}")
    return path


def fetch(url: str, dest: Path, bar, label: str) -> str:
    """Stream `url` into `dest` in 1 MiB blocks on a task of the Rich progress `bar`; returns
    its sha256. A response shorter than its Content-Length is an error (a cut connection).
    The model packs and the CLIP files both download through it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        size = int(response.headers.get("Content-Length") or 0) or None
        task = bar.add_task(label, total=size)
        while block := response.read(1 << 20):
            out.write(block)
            digest.update(block)
            received += len(block)
            bar.advance(task, len(block))
    if size is not None and received != size:
        raise OSError(f"{url} ended after {received} of {size} bytes")
    return digest.hexdigest()


def _install_archive(archive: Path, target: Path, pack: Pack, expected: dict[str, str]) -> None:
    """Extract the pack's .onnx members (flattened), verify them, then move them into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{pack.name}-", dir=_ensure(target.parent)))
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                base = Path(info.filename).name
                if info.is_dir() or not base.endswith(".onnx") or base != os.path.basename(base):
                    continue
                with zf.open(info) as src, open(staging / base, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        names = tuple(p.name for p in staging.iterdir())
        bad = verify_files(staging, names, expected)
        if bad:
            raise EngineUnavailable(f"checksum mismatch for {', '.join(bad)} downloaded for {pack.name}; not installed")
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pack_status(models: str | os.PathLike | None = None) -> list[dict]:
    """For `facesets models`: every pack and which of its files are present where."""
    rows = []
    for pack in PACKS.values():
        folder = find_pack_dir(pack, models, pack.embed_files)
        present = [n for n in pack.all_files if folder and (folder / n).is_file()]
        rows.append({"pack": pack.name, "folder": str(folder) if folder else None,
                     "ready": folder is not None, "present": present, "licence": LICENCE})
    return rows
