"""Writing output trees safely: stable names, link modes, staging folders renamed into place.

Every stage that writes under OUT goes through here, so the rules hold everywhere:
sources are only read, nothing outside OUT is written, a crash never leaves a half tree.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import unicodedata
from pathlib import Path
from typing import Iterator

from facesets.media.bundles import json_bytes

LINK_MODES = ("copy", "hardlink", "symlink")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
OWN_MARK = ".facesets-tree"          # in every tree facesets writes: exports, cluster trees, tag's sidecars
IMPORTS_MARK = ".facesets-imports"   # in the importer's folder beside a catalog, <catalog stem>_imports/
_SQLITE = b"SQLite format 3\x00"


def safe_component(text: str, fallback: str = "unnamed", limit: int = 80) -> str:
    """One path component from untrusted text (person names, EXIF): no separators, no '..',
    no control or look-alike Unicode, never empty."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text).strip("._-")
    return (text[:limit].rstrip("._-") or fallback)


def stable_name(source_path: str | os.PathLike, sha256: str | None = None) -> str:
    """A flat file name for a source photo that is the same on every run and does not depend
    on where the library root is mounted: the last folders + name, plus a short content id."""
    path = Path(source_path)
    parts = [safe_component(p, "x", 40) for p in path.parts[-3:-1]] + [safe_component(path.stem, "photo", 60)]
    digest = (sha256 or hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest())[:8]
    return "__".join(parts) + f"__{digest}" + path.suffix.lower()


def inside(root: str | os.PathLike, candidate: str | os.PathLike) -> Path:
    """`candidate` resolved, refusing anything that escapes `root`."""
    root_path = Path(root).resolve()
    full = (root_path / candidate).resolve()
    if full != root_path and root_path not in full.parents:
        raise ValueError(f"refusing to write outside {root_path}: {candidate}")
    return full


def materialise(source: str | os.PathLike, target: str | os.PathLike, link: str = "copy") -> None:
    """Put `source` at `target` by copy, hard link or symlink; the source is only read.
    `source` may be a catalog path (non-UTF-8 names are stored escaped, see media.paths)."""
    from facesets.media.paths import fs_path

    source = fs_path(source)
    if link not in LINK_MODES:
        raise ValueError(f"unknown link mode {link!r} ({', '.join(LINK_MODES)})")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if link == "hardlink":
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # other filesystem: fall back to a copy
    elif link == "symlink":
        os.symlink(os.path.abspath(source), target)
        return
    shutil.copy2(source, target)


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Build a folder beside `final` and swap it in only when the block succeeds.

    The previous version is moved aside first and removed only after the swap, so at
    every instant either the old or the new tree is complete at `final`.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    previous = final.with_name(f".{final.name}.previous")
    if previous.exists() and not final.exists():  # a crash between the two renames below:
        os.replace(previous, final)                # the old tree goes back before anything else
    staging = final.with_name(f".{final.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    if previous.exists():
        shutil.rmtree(previous, ignore_errors=True)


def write_json(path: str | os.PathLike, data) -> None:
    """Write JSON atomically (temp file + rename), keys sorted for reproducible bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(json_bytes(data))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# -- own outputs: never sources --------------------------------------------------------------

def mark_own(folder: str | os.PathLike, mark: str = OWN_MARK) -> None:
    """Mark a folder as facesets' own output: the scan never reads it as a source."""
    (Path(folder) / mark).write_text("written by facesets; safe to delete with the folder\n")


def own_output(folder: str | os.PathLike) -> str | None:
    """What `folder` is when facesets wrote it (a marked tree, an import folder, a catalog's web
    thumbnails), else None. Folders from before the marks existed are known by their name
    beside their catalog: `<catalog>.thumbs/`, `<catalog stem>_imports/`."""
    folder = os.fspath(folder)
    if os.path.lexists(os.path.join(folder, OWN_MARK)):
        return "facesets output"
    if os.path.lexists(os.path.join(folder, IMPORTS_MARK)):
        return "facesets import folder"
    parent, name = os.path.split(folder.rstrip(os.sep))
    if name.endswith(".thumbs") and _is_catalog(os.path.join(parent, name[:-len(".thumbs")])):
        return "facesets web thumbnails"
    if name.endswith("_imports"):
        stem = name[:-len("_imports")]
        try:
            beside = [e.path for e in os.scandir(parent or ".") if os.path.splitext(e.name)[0] == stem]
        except OSError:
            beside = []
        if any(_is_catalog(path) for path in beside):
            return "facesets import folder"
    return None


def _is_catalog(path: str) -> bool:
    """An SQLite file (a facesets catalog is one)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE)) == _SQLITE
    except OSError:
        return False
