"""Reading roop `.fsz` bundles (zip files) without trusting them.

Every member's name, size and type, and the member count, are checked before a single byte
is extracted: a bundle comes from strangers on the internet, and a zip can name `../x`,
`/etc/x`, `C:\\x`, hold symlinks, or declare gigabytes that a few kilobytes expand into.
"""
from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from facesets.config import IMAGE_EXTENSIONS
from facesets.outputs import inside, safe_component

MAX_MEMBERS = 5000
MAX_TOTAL = 2 * 1024 ** 3          # declared uncompressed bytes of the whole bundle
MAX_MEMBER = 64 * 1024 ** 2        # a 512x512 PNG is ~0.5 MB; 64 MB is no face crop
MAX_RATIO = 200                    # uncompressed / compressed, for members above RATIO_FLOOR
RATIO_FLOOR = 1024 ** 2
MAX_MANIFEST = 16 * 1024 ** 2
_DRIVE = re.compile(r"^[A-Za-z]:")


class ImportRefused(RuntimeError):
    """A source cannot be imported safely (one-line, user-facing reason)."""


@dataclass
class Member:
    info: zipfile.ZipInfo
    target: str            # flat, safe file name inside the managed folder


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _check_name(name: str, label: str) -> list[str]:
    """The member's path components; refuse anything that could leave the folder."""
    if "\x00" in name:
        raise ImportRefused(f"{label}: member name holds a NUL byte: {name!r}")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise ImportRefused(f"{label}: member has an absolute path: {name!r}")
    parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ImportRefused(f"{label}: member path escapes the bundle ('..'): {name!r}")
    return parts


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def check_archive(archive: zipfile.ZipFile, label: str | None = None) -> list[Member]:
    """Validate a whole zip before extraction; return its image members with safe flat names.

    Raises ImportRefused on: more than MAX_MEMBERS members, a name with `..`, an absolute path
    or a drive letter, a symlink member, a member declaring more than MAX_MEMBER bytes, a
    declared total over MAX_TOTAL, or a compression ratio only a zip bomb has."""
    label = label or os.path.basename(str(archive.filename or "bundle"))
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ImportRefused(f"{label}: {len(infos)} members, more than the {MAX_MEMBERS} a faceset bundle may hold")
    total = 0
    members: list[Member] = []
    used: set[str] = set()
    for info in infos:
        parts = _check_name(info.filename, label)
        if _is_link(info):
            raise ImportRefused(f"{label}: member is a symbolic link: {info.filename!r}")
        if info.file_size > MAX_MEMBER:
            raise ImportRefused(f"{label}: member {info.filename!r} declares {_human(info.file_size)}, "
                                f"more than the {_human(MAX_MEMBER)} a face crop can be")
        total += info.file_size
        if total > MAX_TOTAL:
            raise ImportRefused(f"{label}: members declare more than {_human(MAX_TOTAL)} in total")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ImportRefused(f"{label}: member {info.filename!r} expands {info.file_size // max(info.compress_size, 1)}x "
                                "(a zip bomb)")
        if info.is_dir() or not parts:
            continue
        suffix = Path(parts[-1]).suffix.lower()
        if suffix not in IMAGE_EXTENSIONS:
            continue
        stem = "__".join(safe_component(p, "x", 60) for p in parts[:-1] + [Path(parts[-1]).stem])
        target = stem + suffix
        n = 1
        while target.lower() in used:
            n += 1
            target = f"{stem}-{n}{suffix}"
        used.add(target.lower())
        members.append(Member(info, target))
    return members


def _declared_members(path: str | os.PathLike) -> int | None:
    """The member count the end record declares, read before zipfile parses (and holds in
    memory) a central directory of any size. None when it cannot be read this way."""
    try:
        with open(path, "rb") as handle:
            end = zipfile._EndRecData(handle)   # stable since Python 2; zip64-aware
        return None if end is None else int(end[zipfile._ECD_ENTRIES_TOTAL])
    except (AttributeError, IndexError, TypeError, ValueError, OSError):
        return None


def open_bundle(path: str | os.PathLike) -> zipfile.ZipFile:
    declared = _declared_members(path)
    if declared is not None and declared > MAX_MEMBERS:
        raise ImportRefused(f"{os.path.basename(os.fspath(path))}: {declared} members, more than the "
                            f"{MAX_MEMBERS} a faceset bundle may hold")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ImportRefused(f"{os.path.basename(os.fspath(path))}: not a readable .fsz (zip) bundle ({exc})") from None
    except OSError as exc:
        raise ImportRefused(f"{os.fspath(path)}: cannot read ({exc.strerror or exc})") from None


def read_manifest(archive: zipfile.ZipFile) -> object | None:
    """A manifest.json member, if the bundle has one (roop bundles do not; ours may)."""
    for info in archive.infolist():
        if info.filename.rsplit("/", 1)[-1] == "manifest.json" and info.file_size <= MAX_MANIFEST:
            try:
                return json.loads(archive.read(info).decode("utf-8"))
            except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError):
                return None
    return None


def extract_members(archive: zipfile.ZipFile, members: list[Member], folder: Path, label: str) -> list[Path]:
    """Copy checked members into `folder` (already created, private), never trusting the
    declared size: at most file_size bytes are written, and the zip's CRC check runs."""
    written = []
    for member in members:
        target = inside(folder, member.target)
        if target.parent != folder.resolve():
            raise ImportRefused(f"{label}: member {member.info.filename!r} would leave the import folder")
        left = member.info.file_size
        try:
            with archive.open(member.info) as src, open(target, "xb") as dst:
                while block := src.read(min(1 << 20, left + 1)):
                    left -= len(block)
                    if left < 0:
                        raise ImportRefused(f"{label}: member {member.info.filename!r} is larger than it declares")
                    dst.write(block)
        except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
            if isinstance(exc, ImportRefused):
                raise
            raise ImportRefused(f"{label}: member {member.info.filename!r} is damaged ({exc})") from None
        written.append(target)
    return written
