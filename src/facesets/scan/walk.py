"""Walking source trees and reconciling what is found with the catalog.

Photo libraries live on flaky disks: folders we may not list, symlinks that loop, files
that vanish or change while we look, names that are not UTF-8. Each of those becomes a
one-line error row (or is skipped) and the walk goes on. The scan opens no file: it stats
each path, and a new or changed one is read, hashed and decoded once by embed's per-file work
(on this machine or a cluster worker), whose commit says what its bytes are (scan.content).
"""
from __future__ import annotations

import errno
import logging
import os
import stat as statmod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from facesets.catalog import AliasRow, Catalog, FileRow, FileStatus
from facesets.config import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from facesets.media.paths import catalog_path
from facesets.outputs import own_output
from facesets.scan.content import FileJob, detach

TRANSACTION_SECONDS = 0.25  # a scan never holds the write lock longer than this
SOURCE_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
log = logging.getLogger("facesets")


@dataclass
class ScanStats:
    seen: int = 0
    unchanged: int = 0
    new_paths: int = 0       # recorded as pending, content unknown until embed reads them
    changed: int = 0
    errors: int = 0
    error_paths: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # folders facesets wrote, never sources
    reread: list[FileJob] = field(default_factory=list)  # embedded files whose size or date changed


@dataclass
class WalkProblem:
    path: str
    reason: str


@dataclass
class Skipped:
    """A folder facesets itself wrote (an export, an import folder, ...): never a source."""
    path: str
    reason: str


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith("._")


def is_source_name(name: str) -> bool:
    """A photo or a video the scan records."""
    return Path(name).suffix.lower() in SOURCE_EXTENSIONS and not name.startswith("._")


def iter_image_paths(sources: list[str | os.PathLike]) -> Iterator[str | WalkProblem | Skipped]:
    """Absolute paths of image and video files under `sources` (sorted), a `WalkProblem` for
    every folder that cannot be listed or symlink that loops back, and a `Skipped` for every
    folder facesets wrote met on the way (a source named as such is read as asked, e.g. an
    export's crops with --input crops). Symlinked folders are followed once; a folder reached
    twice is walked once."""
    visited: set[tuple[int, int]] = set()
    for source in sources:
        root = os.path.abspath(os.path.expanduser(os.fspath(source)))
        if os.path.isfile(root):
            if is_source_name(os.path.basename(root)):
                yield root
            continue
        if not os.path.isdir(root):
            yield WalkProblem(root, "source does not exist")
            continue
        yield from _walk_tree(root, visited)


def _walk_tree(root: str, visited: set[tuple[int, int]]) -> Iterator[str | WalkProblem | Skipped]:
    problems: list[WalkProblem | Skipped] = []

    def onerror(exc: OSError) -> None:
        problems.append(WalkProblem(exc.filename or root, _folder_reason(exc)))

    try:
        st = os.stat(root)
    except OSError as exc:
        yield WalkProblem(root, _folder_reason(exc))
        return
    if (st.st_dev, st.st_ino) in visited:
        return
    visited.add((st.st_dev, st.st_ino))
    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=True):
        yield from problems
        problems.clear()
        keep = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError as exc:
                problems.append(WalkProblem(full, _folder_reason(exc)))
                continue
            key = (st.st_dev, st.st_ino)
            if key in visited:
                if os.path.islink(full) and _is_enclosing(full, dirpath):
                    problems.append(WalkProblem(full, "symlink loop (points back to an enclosing folder), not followed"))
                continue
            visited.add(key)
            own = own_output(full)
            if own:
                problems.append(Skipped(full, own))
                continue
            keep.append(name)
        dirnames[:] = keep
        yield from problems
        problems.clear()
        for name in sorted(filenames):
            if is_source_name(name):
                yield os.path.join(dirpath, name)
    yield from problems


def _is_enclosing(link: str, dirpath: str) -> bool:
    target = os.path.realpath(link)
    here = os.path.realpath(dirpath)
    return here == target or here.startswith(target.rstrip(os.sep) + os.sep)


def _folder_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop, not followed"
    return f"unreadable folder: {exc.strerror or exc}"


def _file_reason(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT:
        return "broken symlink (target missing)" if os.path.islink(path) else "file vanished during the scan"
    return f"unreadable: {exc.strerror or exc}"


def scan(catalog: Catalog, sources: list[str | os.PathLike], run_id: int | None = None,
         progress: Callable[[str], None] | None = None) -> ScanStats:
    """Record every image and video under `sources`: a new path becomes a pending file, an
    embedded file that changed on disk a job in `reread`. Writes go in transactions of at most
    TRANSACTION_SECONDS. Folders facesets wrote are skipped, and said so once."""
    stats = ScanStats()
    files = catalog.files
    problem_paths: set[str] = set()
    with catalog.batched_writes(TRANSACTION_SECONDS) as writes:
        for item in iter_image_paths(sources):
            if isinstance(item, Skipped):
                stats.skipped.append(item.path)
                continue
            if isinstance(item, WalkProblem):
                _record_error(files, catalog_path(item.path), item.reason, run_id, stats, problem_paths)
                continue
            stats.seen += 1
            if progress:
                progress(item)
            _scan_one(catalog, item, run_id, stats, problem_paths)
            writes.commit(force=False)
        writes.commit()
        _forget_stale_problems(files, sources, problem_paths)
    if stats.skipped:
        log.info(f"skipped {len(stats.skipped)} folder(s) facesets wrote (its own outputs are never sources): "
                 + ", ".join(stats.skipped))
    return stats


def _scan_one(catalog: Catalog, path: str, run_id: int | None, stats: ScanStats,
              problem_paths: set[str]) -> None:
    """Reconcile one path with the catalog."""
    files = catalog.files
    key = catalog_path(path)
    known = files.lookup(key)
    try:
        st = os.stat(path)
        if not statmod.S_ISREG(st.st_mode):
            raise _NotRegular()
    except (OSError, _NotRegular) as exc:
        reason = "not a regular file" if isinstance(exc, _NotRegular) else _file_reason(path, exc)
        if reason == "file vanished during the scan":
            return  # deleted while we looked: not an error, and not ours to record
        if isinstance(known, AliasRow):
            files.delete_alias(known.id)
        _record_error(files, key, reason, run_id, stats, problem_paths)
        return
    if known is not None and known.size == st.st_size and known.mtime_ns == st.st_mtime_ns:
        if isinstance(known, FileRow) and known.status == FileStatus.MISSING:  # back where it was
            files.restore(known.id)
        elif isinstance(known, FileRow) and known.status == FileStatus.ERROR and known.sha256 is None:
            problem_paths.add(key)  # still the same unreadable entry
        stats.unchanged += 1
        return
    if known is None:
        files.add_pending(key, st.st_size, st.st_mtime_ns, None, run_id)
        stats.new_paths += 1
        return
    stats.changed += 1
    if isinstance(known, FileRow) and known.status == FileStatus.PENDING:
        files.touched(known.id, st.st_size, st.st_mtime_ns, run_id)  # this run's embed reads it anyway
    elif isinstance(known, FileRow) and known.sha256 is not None:  # same bytes or not: its read says
        stats.reread.append(FileJob(known.id, key, st.st_size, st.st_mtime_ns, known.sha256, reread=True))
    else:  # an alias, or an error without content: the path starts afresh
        detach(files, known, key)
        files.add_pending(key, st.st_size, st.st_mtime_ns, None, run_id)


class _NotRegular(Exception):
    pass


def _forget_stale_problems(files, sources, problem_paths: set[str]) -> None:
    """Error rows without content (unlistable folders, unreadable or looping entries) that this
    scan no longer met under its sources are forgotten: the problem went away."""
    roots = [catalog_path(os.path.abspath(os.path.expanduser(os.fspath(s)))) for s in sources]
    for file_id, path in files.contentless_errors():
        under = any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)
        if under and path not in problem_paths:
            files.delete(file_id)


def _record_error(files, key: str, reason: str, run_id: int | None, stats: ScanStats,
                  problem_paths: set[str]) -> None:
    problem_paths.add(key)
    files.record_error(key, reason, run_id)
    stats.errors += 1
    stats.error_paths.append(key)
