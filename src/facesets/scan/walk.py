"""Walking source trees and reconciling what is found with the catalog."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from facesets.catalog import Catalog
from facesets.config import IMAGE_EXTENSIONS


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




def iter_image_paths(sources: list[str | os.PathLike]) -> Iterator[str | WalkProblem]:
    """Absolute paths of image files under `sources` (sorted, symlink loops never followed),
    and a `WalkProblem` for every folder or file that cannot be listed."""
    for source in sources:
        root = os.path.abspath(os.path.expanduser(os.fspath(source)))
        if os.path.isfile(root):
            if Path(root).suffix.lower() in IMAGE_EXTENSIONS:
                yield root
            continue
        if not os.path.isdir(root):
            yield WalkProblem(root, "source does not exist")
            continue
        problems: list[WalkProblem] = []

        def onerror(exc: OSError, problems=problems) -> None:
            problems.append(WalkProblem(exc.filename or root, f"unreadable folder: {exc.strerror}"))

        for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
            dirnames.sort()
            yield from problems
            problems.clear()
            for name in sorted(filenames):
                if Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith("._"):
                    yield os.path.join(dirpath, name)
        yield from problems


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def scan(catalog: Catalog, sources: list[str | os.PathLike], run_id: int | None = None,
         progress: Callable[[str], None] | None = None, commit_every: int = 500) -> ScanStats:
    """Record every image under `sources`; new content becomes a pending file."""
    stats = ScanStats()
    conn = catalog.conn
    conn.execute("BEGIN IMMEDIATE")
    pending_writes = 0
    try:
        for item in iter_image_paths(sources):
            if isinstance(item, WalkProblem):
                _record_error(conn, item.path, item.reason, run_id)
                stats.errors += 1
                stats.error_paths.append(item.path)
                continue
            stats.seen += 1
            if progress:
                progress(item)
            if _scan_one(conn, item, run_id, stats):
                pending_writes += 1
            if pending_writes >= commit_every:
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                pending_writes = 0
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return stats


def _lookup(conn, path: str):
    row = conn.execute("SELECT id, size, mtime_ns, sha256, status FROM files WHERE path = ?", (path,)).fetchone()
    if row:
        return "file", row
    row = conn.execute("SELECT id, file_id, size, mtime_ns FROM aliases WHERE path = ?", (path,)).fetchone()
    if row:
        return "alias", row
    return None, None


def _scan_one(conn, path: str, run_id: int | None, stats: ScanStats) -> bool:
    """Reconcile one path; True when the catalog was written."""
    try:
        st = os.stat(path)
    except OSError as exc:
        _record_error(conn, path, f"unreadable: {exc.strerror or exc}", run_id)
        stats.errors += 1
        return True
    kind, row = _lookup(conn, path)
    if row is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns:
        stats.unchanged += 1
        return False
    try:
        digest = sha256_of(path)
        stats.hashed += 1
    except OSError as exc:
        _record_error(conn, path, f"unreadable: {exc.strerror or exc}", run_id)
        stats.errors += 1
        return True
    if row is not None:
        stats.changed += 1
        if kind == "file" and row["sha256"] == digest:  # touched, same bytes
            conn.execute("UPDATE files SET size = ?, mtime_ns = ?, seen_run = ? WHERE id = ?",
                         (st.st_size, st.st_mtime_ns, run_id, row["id"]))
            return True
        _detach(conn, kind, row, path)
    owner = conn.execute("SELECT id, path, status FROM files WHERE sha256 = ?", (digest,)).fetchone()
    if owner is not None:
        if owner["status"] == "missing":  # the content came back at a new place
            conn.execute("UPDATE files SET path = ?, size = ?, mtime_ns = ?, status = "
                         "CASE WHEN done_run IS NULL THEN 'pending' ELSE "
                         "(CASE WHEN n_faces > 0 THEN 'done' ELSE 'noface' END) END WHERE id = ?",
                         (path, st.st_size, st.st_mtime_ns, owner["id"]))
        else:
            conn.execute("INSERT INTO aliases(path, file_id, size, mtime_ns, seen_run) VALUES (?, ?, ?, ?, ?)",
                         (path, owner["id"], st.st_size, st.st_mtime_ns, run_id))
            stats.new_aliases += 1
        return True
    conn.execute("INSERT INTO files(path, size, mtime_ns, sha256, status, seen_run) "
                 "VALUES (?, ?, ?, ?, 'pending', ?)", (path, st.st_size, st.st_mtime_ns, digest, run_id))
    stats.new_files += 1
    return True


def _detach(conn, kind: str, row, path: str) -> None:
    """A known path now holds other bytes: take it away from the content it used to name."""
    if kind == "alias":
        conn.execute("DELETE FROM aliases WHERE id = ?", (row["id"],))
        return
    if row["sha256"] is None:  # an error row without content: forget it, the path is rescanned
        conn.execute("DELETE FROM files WHERE id = ? AND NOT EXISTS "
                     "(SELECT 1 FROM faces WHERE file_id = files.id)", (row["id"],))
        if conn.execute("SELECT 1 FROM files WHERE id = ?", (row["id"],)).fetchone() is None:
            return
    heir = conn.execute("SELECT id, path, size, mtime_ns FROM aliases WHERE file_id = ? ORDER BY path LIMIT 1",
                        (row["id"],)).fetchone()
    if heir is not None:  # another copy of the old bytes still exists: it becomes the file's path
        conn.execute("DELETE FROM aliases WHERE id = ?", (heir["id"],))
        conn.execute("UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                     (heir["path"], heir["size"], heir["mtime_ns"], row["id"]))
    else:  # the old bytes are gone from the library; keep their faces, free the path
        conn.execute("UPDATE files SET path = ?, status = 'missing' WHERE id = ?",
                     (f"{path}\x00missing:{row['id']}", row["id"]))


def _record_error(conn, path: str, reason: str, run_id: int | None) -> None:
    conn.execute(
        "INSERT INTO files(path, size, mtime_ns, status, error, seen_run) VALUES (?, 0, 0, 'error', ?, ?) "
        "ON CONFLICT(path) DO UPDATE SET status = 'error', error = excluded.error, seen_run = excluded.seen_run",
        (path, reason, run_id),
    )
