"""Walking source trees and reconciling what is found with the catalog.

Photo libraries live on flaky disks: folders we may not list, symlinks that loop, files
that vanish or change while we look, names that are not UTF-8. Each of those becomes a
one-line error row (or is skipped) and the walk goes on. Hashing happens outside any
write transaction, so readers and other writers never wait on a slow disk.
"""
from __future__ import annotations

import errno
import os
import stat as statmod
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from facesets.catalog import Catalog
from facesets.config import IMAGE_EXTENSIONS
from facesets.media.hashing import sha256_file
from facesets.media.paths import catalog_path

TRANSACTION_SECONDS = 0.25  # a scan never holds the write lock longer than this between files


@dataclass
class ScanStats:
    seen: int = 0
    unchanged: int = 0
    new_files: int = 0
    new_aliases: int = 0
    changed: int = 0
    errors: int = 0
    hashed: int = 0
    error_paths: list[str] = field(default_factory=list)


@dataclass
class WalkProblem:
    path: str
    reason: str


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith("._")


def iter_image_paths(sources: list[str | os.PathLike]) -> Iterator[str | WalkProblem]:
    """Absolute paths of image files under `sources` (sorted), and a `WalkProblem` for every
    folder that cannot be listed or symlink that loops back. Symlinked folders are followed
    once; a folder reached twice is walked once."""
    visited: set[tuple[int, int]] = set()
    for source in sources:
        root = os.path.abspath(os.path.expanduser(os.fspath(source)))
        if os.path.isfile(root):
            if is_image_name(os.path.basename(root)):
                yield root
            continue
        if not os.path.isdir(root):
            yield WalkProblem(root, "source does not exist")
            continue
        yield from _walk_tree(root, visited)


def _walk_tree(root: str, visited: set[tuple[int, int]]) -> Iterator[str | WalkProblem]:
    problems: list[WalkProblem] = []

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
            keep.append(name)
        dirnames[:] = keep
        yield from problems
        problems.clear()
        for name in sorted(filenames):
            if is_image_name(name):
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


class _Writer:
    """Short write transactions: opened on the first write, closed after a few tenths of a
    second or before any slow step (hashing)."""

    def __init__(self, conn):
        self.conn = conn
        self.opened_at: float | None = None

    def write(self, sql: str, params: tuple = ()):
        if self.opened_at is None:
            self.conn.execute("BEGIN IMMEDIATE")
            self.opened_at = time.monotonic()
        return self.conn.execute(sql, params)

    def commit(self, force: bool = True) -> None:
        if self.opened_at is not None and (force or time.monotonic() - self.opened_at > TRANSACTION_SECONDS):
            self.conn.execute("COMMIT")
            self.opened_at = None

    def rollback(self) -> None:
        if self.opened_at is not None:
            self.conn.execute("ROLLBACK")
            self.opened_at = None


def scan(catalog: Catalog, sources: list[str | os.PathLike], run_id: int | None = None,
         progress: Callable[[str], None] | None = None, commit_every: int = 500) -> ScanStats:
    """Record every image under `sources`; new content becomes a pending file.

    `commit_every` is kept for callers; transactions are now bounded by time instead."""
    stats = ScanStats()
    writer = _Writer(catalog.conn)
    problem_paths: set[str] = set()
    try:
        for item in iter_image_paths(sources):
            if isinstance(item, WalkProblem):
                key = catalog_path(item.path)
                problem_paths.add(key)
                _record_error(writer, key, item.reason, run_id)
                stats.errors += 1
                stats.error_paths.append(key)
                continue
            stats.seen += 1
            if progress:
                progress(item)
            _scan_one(writer, item, run_id, stats, problem_paths)
            writer.commit(force=False)
        writer.commit()
        _forget_stale_problems(writer, sources, problem_paths)
        writer.commit()
    except BaseException:
        writer.rollback()
        raise
    return stats


def _lookup(conn, key: str):
    row = conn.execute("SELECT id, size, mtime_ns, sha256, status, done_run, n_faces FROM files WHERE path = ?",
                       (key,)).fetchone()
    if row:
        return "file", row
    row = conn.execute("SELECT id, file_id, size, mtime_ns FROM aliases WHERE path = ?", (key,)).fetchone()
    if row:
        return "alias", row
    return None, None


_RESTORED_STATUS = ("CASE WHEN done_run IS NULL THEN 'pending' "
                    "ELSE (CASE WHEN n_faces > 0 THEN 'done' ELSE 'noface' END) END")


def _scan_one(writer: _Writer, path: str, run_id: int | None, stats: ScanStats, problem_paths: set[str]) -> None:
    """Reconcile one path with the catalog."""
    conn = writer.conn
    key = catalog_path(path)
    kind, row = _lookup(conn, key)
    try:
        st = os.stat(path)
        if not statmod.S_ISREG(st.st_mode):
            raise _NotRegular()
    except (OSError, _NotRegular) as exc:
        reason = "not a regular file" if isinstance(exc, _NotRegular) else _file_reason(path, exc)
        if reason == "file vanished during the scan":
            return  # deleted while we looked: not an error, and not ours to record
        if kind == "alias":
            writer.write("DELETE FROM aliases WHERE id = ?", (row["id"],))
        problem_paths.add(key)
        _record_error(writer, key, reason, run_id)
        stats.errors += 1
        stats.error_paths.append(key)
        return
    if row is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns:
        if kind == "file" and row["status"] == "missing":  # a vanished file is back where it was
            writer.write(f"UPDATE files SET status = {_RESTORED_STATUS}, error = NULL WHERE id = ?", (row["id"],))
        elif kind == "file" and row["status"] == "error" and row["sha256"] is None:
            problem_paths.add(key)  # still the same unreadable entry
        stats.unchanged += 1
        return
    writer.commit()  # never hold the write lock while reading a file
    try:
        digest = sha256_file(path)
        stats.hashed += 1
    except OSError as exc:
        if kind == "alias":
            writer.write("DELETE FROM aliases WHERE id = ?", (row["id"],))
        problem_paths.add(key)
        _record_error(writer, key, _file_reason(path, exc), run_id)
        stats.errors += 1
        stats.error_paths.append(key)
        return
    kind, row = _lookup(conn, key)  # re-read: nothing may have changed, but be exact
    if row is not None:
        stats.changed += 1
        if kind == "file" and row["sha256"] == digest:  # touched, same bytes
            writer.write("UPDATE files SET size = ?, mtime_ns = ?, seen_run = ?, "
                         f"status = CASE WHEN status IN ('error', 'missing') THEN {_RESTORED_STATUS} ELSE status END, "
                         "error = CASE WHEN status IN ('error', 'missing') THEN NULL ELSE error END WHERE id = ?",
                         (st.st_size, st.st_mtime_ns, run_id, row["id"]))
            return
        _detach(writer, kind, row, key)
    owner = conn.execute("SELECT id, path, status FROM files WHERE sha256 = ?", (digest,)).fetchone()
    if owner is not None:
        if owner["status"] == "missing":  # the content came back at a new place
            writer.write(f"UPDATE files SET path = ?, size = ?, mtime_ns = ?, status = {_RESTORED_STATUS}, "
                         "error = NULL WHERE id = ?", (key, st.st_size, st.st_mtime_ns, owner["id"]))
        else:
            writer.write("INSERT INTO aliases(path, file_id, size, mtime_ns, seen_run) VALUES (?, ?, ?, ?, ?)",
                         (key, owner["id"], st.st_size, st.st_mtime_ns, run_id))
            stats.new_aliases += 1
        return
    writer.write("INSERT INTO files(path, size, mtime_ns, sha256, status, seen_run) "
                 "VALUES (?, ?, ?, ?, 'pending', ?)", (key, st.st_size, st.st_mtime_ns, digest, run_id))
    stats.new_files += 1


class _NotRegular(Exception):
    pass


def _detach(writer: _Writer, kind: str, row, key: str) -> None:
    """A known path now holds other bytes: take it away from the content it used to name."""
    if kind == "alias":
        writer.write("DELETE FROM aliases WHERE id = ?", (row["id"],))
        return
    if row["sha256"] is None:  # an error row without content: forget it, the path is rescanned
        writer.write("DELETE FROM files WHERE id = ? AND NOT EXISTS "
                     "(SELECT 1 FROM faces WHERE file_id = files.id)", (row["id"],))
        if writer.conn.execute("SELECT 1 FROM files WHERE id = ?", (row["id"],)).fetchone() is None:
            return
    heir = writer.conn.execute("SELECT id, path, size, mtime_ns FROM aliases WHERE file_id = ? ORDER BY path LIMIT 1",
                               (row["id"],)).fetchone()
    if heir is not None:  # another copy of the old bytes still exists: it becomes the file's path
        writer.write("DELETE FROM aliases WHERE id = ?", (heir["id"],))
        writer.write("UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                     (heir["path"], heir["size"], heir["mtime_ns"], row["id"]))
    else:  # the old bytes are gone from the library; keep their faces, free the path
        writer.write("UPDATE files SET path = ?, status = 'missing' WHERE id = ?",
                     (f"{key}\x00missing:{row['id']}", row["id"]))


def _forget_stale_problems(writer: _Writer, sources, problem_paths: set[str]) -> None:
    """Error rows without content (unlistable folders, unreadable or looping entries) that this
    scan no longer met under its sources are forgotten: the problem went away."""
    roots = [catalog_path(os.path.abspath(os.path.expanduser(os.fspath(s)))) for s in sources]
    rows = writer.conn.execute(
        "SELECT id, path FROM files WHERE status = 'error' AND sha256 IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM faces WHERE faces.file_id = files.id)").fetchall()
    for row in rows:
        path = row["path"]
        under = any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)
        if under and path not in problem_paths:
            writer.write("DELETE FROM files WHERE id = ?", (row["id"],))


def _record_error(writer: _Writer, key: str, reason: str, run_id: int | None) -> None:
    writer.write(
        "INSERT INTO files(path, size, mtime_ns, status, error, seen_run) VALUES (?, 0, 0, 'error', ?, ?) "
        "ON CONFLICT(path) DO UPDATE SET status = 'error', error = excluded.error, seen_run = excluded.seen_run",
        (key, reason, run_id),
    )
