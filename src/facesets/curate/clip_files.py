"""CLIP weights for `facesets occlusion`: the ONNX exports Immich publishes, found or fetched.

A model is a folder `<models dir>/clip/<NAME>/` laid out as Immich publishes it on Hugging Face
(one repository per model, `immich-app/<NAME>`): the four FILES below. Folders are searched in
`--models DIR`, `$FACESETS_MODELS` and the default models folder (facesets.config.models_dirs);
a known model that is absent is downloaded from a pinned revision of its repository (or from
`$FACESETS_CLIP_URL`, same layout) with a progress bar. Every load checks the files' sha256:
against the hashes pinned here where published ones were found, else against `sha256.json`,
written beside the files when they were downloaded (or first used).
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from facesets.config import models_dirs
from facesets.curate.tree import sha256_file
from facesets.engines.packs import fetch

FILES = ("visual/model.onnx", "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json")
RECORD = "sha256.json"
HF_URL = "https://huggingface.co/immich-app"


class ClipUnavailable(RuntimeError):
    """The tokenizer package or the model files are missing or broken (one-line, user-facing)."""


@dataclass(frozen=True)
class ClipSource:
    """Where a known model is downloaded from: a fixed commit of its Immich repository (the
    files at a commit never change, so every install gets the same bytes) and the sha256 of its
    files where a published value exists (Hugging Face LFS pointers)."""
    revision: str
    sha256: dict[str, str] = field(default_factory=dict)


DEFAULT_MODEL = "ViT-B-32__laion2b-s34b-b79k"
# No published sha256 of these exports could be found (no LFS pointer of them is indexed
# anywhere we can search): they are recorded on first download and checked on every load.
SOURCES = {
    DEFAULT_MODEL: ClipSource("8204c663a7b5aa2edd55e0df578b39f57af07376"),
    # Apple's DFN2B ViT-L-14 (open_clip ViT-L-14 / dfn2b). Its longer-trained sibling dfn2b_s39b
    # (the 0.7 threshold was set on it) has no public ONNX export: export it with Immich's
    # exporter into <models>/clip/ViT-L-14__dfn2b_s39b/ and pass that name.
    "ViT-L-14-quickgelu__dfn2b": ClipSource("63233c0b8490970c762a31a25a937e56fba65be3"),
}


def canonical_name(name: str) -> str:
    """A known model's name however its pretrained tag is spelled (open_clip writes
    laion2b_s34b_b79k, Immich laion2b-s34b-b79k); other names are kept as given."""
    key = name.replace("_", "-").lower()
    return next((known for known in SOURCES if known.replace("_", "-").lower() == key), name)


def find_model_dir(name: str, models: str | os.PathLike | None = None) -> Path | None:
    """The first `<models dir>/clip/<name>/` holding every file, else None."""
    for root in models_dirs(models):
        folder = root / "clip" / name
        if all((folder / rel).is_file() for rel in FILES):
            return folder
    return None


def ensure_model(name: str, models: str | os.PathLike | None = None, download: bool = True,
                 base_url: str | None = None, show_progress: bool = True) -> Path:
    """The folder of a model whose files are present and checked, downloading it if allowed."""
    name = canonical_name(name)
    found = find_model_dir(name, models)
    if found:
        verify(found, SOURCES.get(name))
        return found
    target = models_dirs(models)[0] / "clip" / name
    missing = (f"CLIP model {name} not found: need {', '.join(FILES)} in {target} "
               "(or --models DIR / $FACESETS_MODELS, as DIR/clip/NAME/)")
    source = SOURCES.get(name)
    if source is None:
        raise ClipUnavailable(f"{missing}; downloadable: {', '.join(SOURCES)}")
    if not download:
        raise ClipUnavailable(missing)
    base = (base_url or os.environ.get("FACESETS_CLIP_URL") or HF_URL).rstrip("/")
    url = f"{base}/{name}/resolve/{source.revision}"
    try:
        _download_model(url, target, source, show_progress)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise ClipUnavailable(f"{missing}; download from {url} failed: {' '.join(str(exc).split())}") from None
    return target


def verify(folder: Path, source: ClipSource | None = None) -> None:
    """Check every file against the pinned hashes, else against the record beside the files;
    files without either are hashed and recorded now (trust on first use)."""
    record_path = folder / RECORD
    try:
        recorded = json.loads(record_path.read_text(encoding="utf-8")).get("sha256", {})
    except (OSError, ValueError, AttributeError):
        recorded = {}
    pinned = source.sha256 if source else {}
    actual = {rel: sha256_file(folder / rel) for rel in FILES}
    bad = [rel for rel in FILES if (pinned.get(rel) or recorded.get(rel, actual[rel])) != actual[rel]]
    if bad:
        raise ClipUnavailable(f"checksum mismatch for {', '.join(bad)} in {folder} (against "
                              f"{'the published sha256' if pinned else RECORD}): delete the folder to download it again")
    if any(rel not in recorded for rel in FILES):
        try:
            _write_record(folder, {**recorded, **actual})
        except OSError:
            pass  # a read-only models folder: the files were still checked where a hash was known


def _write_record(folder: Path, hashes: dict[str, str], url: str | None = None) -> None:
    data = {"sha256": dict(sorted(hashes.items()))}
    if url:
        data["source"] = url
    staging = folder / f".{RECORD}.tmp"
    staging.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(staging, folder / RECORD)


def _download_model(url: str, target: Path, source: ClipSource, show_progress: bool) -> None:
    """Every file into a staging folder beside the target (hashed while it streams), checked
    against the pinned hashes, then moved into place with the record of their hashes."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    bars = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                    disable=not show_progress)
    try:
        hashes = {}
        with bars:
            for rel in FILES:
                hashes[rel] = fetch(f"{url}/{rel}", staging / rel, bars, f"download {rel}")
        bad = [rel for rel, want in source.sha256.items() if hashes.get(rel) != want]
        if bad:
            raise ClipUnavailable(f"checksum mismatch for {', '.join(bad)} downloaded from {url}; not installed")
        for rel in FILES:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target / rel)
        _write_record(target, hashes, url)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
