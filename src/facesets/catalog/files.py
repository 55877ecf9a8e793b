"""Files and aliases: every photo's content once (sha256), every other place holding it an alias."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable

from facesets.catalog._sql import chunks, marks
from facesets.catalog.types import AliasRow, FileRow, FileStatus

# a file back from `missing` or `error` regains the status its embedding gave it
_RESTORED_STATUS = ("CASE WHEN done_run IS NULL THEN 'pending' "
                    "ELSE (CASE WHEN n_faces > 0 THEN 'done' ELSE 'noface' END) END")
_FILE_COLUMNS = ("id, path, size, mtime_ns, sha256, status, error, width, height, taken_at, n_faces, done_run, "
                 "input_mode")
MISSING_MARK = "\x00missing:"   # a vanished file's freed path: '<path>\x00missing:<id>'


def _file(row) -> FileRow:
    return FileRow(*row)


class FilesRepo:
    def __init__(self, db):
        self._db = db

    # -- scan: reconciling paths with the catalog ------------------------------------
    def lookup(self, path: str) -> FileRow | AliasRow | None:
        """The file or alias recorded at `path`."""
        row = self._db._read(f"SELECT {_FILE_COLUMNS} FROM files WHERE path = ?", (path,)).fetchone()
        if row:
            return _file(row)
        row = self._db._read("SELECT id, path, file_id, size, mtime_ns FROM aliases WHERE path = ?",
                             (path,)).fetchone()
        return AliasRow(*row) if row else None

    def by_sha256(self, digest: str) -> FileRow | None:
        row = self._db._read(f"SELECT {_FILE_COLUMNS} FROM files WHERE sha256 = ?", (digest,)).fetchone()
        return _file(row) if row else None

    def all(self) -> list[FileRow]:
        """Every file record (first locations; aliases are `aliases_of`), by id."""
        return [_file(r) for r in self._db._read(f"SELECT {_FILE_COLUMNS} FROM files ORDER BY id")]

    def aliases_of(self, file_id: int) -> list[str]:
        return [r[0] for r in self._db._read("SELECT path FROM aliases WHERE file_id = ? ORDER BY path", (file_id,))]

    def get(self, file_id: int) -> FileRow | None:
        row = self._db._read(f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ?", (int(file_id),)).fetchone()
        return _file(row) if row else None

    def add_pending(self, path: str, size: int, mtime_ns: int, sha256: str, run_id: int | None) -> None:
        self._db._write("INSERT INTO files(path, size, mtime_ns, sha256, status, seen_run) "
                        "VALUES (?, ?, ?, ?, 'pending', ?)", (path, size, mtime_ns, sha256, run_id))

    def add_alias(self, path: str, file_id: int, size: int, mtime_ns: int, run_id: int | None) -> None:
        self._db._write("INSERT INTO aliases(path, file_id, size, mtime_ns, seen_run) VALUES (?, ?, ?, ?, ?)",
                        (path, file_id, size, mtime_ns, run_id))

    def delete_alias(self, alias_id: int) -> None:
        self._db._write("DELETE FROM aliases WHERE id = ?", (alias_id,))

    def restore(self, file_id: int) -> None:
        """A missing file is back where it was."""
        self._db._write(f"UPDATE files SET status = {_RESTORED_STATUS}, error = NULL WHERE id = ?", (file_id,))

    def touched(self, file_id: int, size: int, mtime_ns: int, run_id: int | None) -> None:
        """Same bytes, new size/mtime (touched): an error or missing record is restored."""
        self._db._write("UPDATE files SET size = ?, mtime_ns = ?, seen_run = ?, "
                        f"status = CASE WHEN status IN ('error', 'missing') THEN {_RESTORED_STATUS} ELSE status END, "
                        "error = CASE WHEN status IN ('error', 'missing') THEN NULL ELSE error END WHERE id = ?",
                        (size, mtime_ns, run_id, file_id))

    def moved_back(self, file_id: int, path: str, size: int, mtime_ns: int) -> None:
        """The content of a missing file came back at a new place."""
        self._db._write(f"UPDATE files SET path = ?, size = ?, mtime_ns = ?, status = {_RESTORED_STATUS}, "
                        "error = NULL WHERE id = ?", (path, size, mtime_ns, file_id))

    def record_error(self, path: str, reason: str, run_id: int | None) -> None:
        self._db._write(
            "INSERT INTO files(path, size, mtime_ns, status, error, seen_run) VALUES (?, 0, 0, 'error', ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET status = 'error', error = excluded.error, seen_run = excluded.seen_run",
            (path, reason, run_id))

    def forget_if_faceless(self, file_id: int) -> bool:
        """Delete a file record that holds no faces; returns whether it is gone."""
        self._db._write("DELETE FROM files WHERE id = ? AND NOT EXISTS "
                        "(SELECT 1 FROM faces WHERE faces.file_id = files.id)", (file_id,))
        return self._db._read("SELECT 1 FROM files WHERE id = ?", (file_id,)).fetchone() is None

    def promote_alias(self, file_id: int, usable: Callable[[str], bool] = lambda path: True) -> bool:
        """The first usable alias (by path) becomes the file's path; False when none is."""
        for alias in self._db._read("SELECT id, path, size, mtime_ns FROM aliases WHERE file_id = ? ORDER BY path",
                                    (file_id,)).fetchall():
            if usable(alias["path"]):
                self._db._write("DELETE FROM aliases WHERE id = ?", (alias["id"],))
                self._db._write("UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                                (alias["path"], alias["size"], alias["mtime_ns"], file_id))
                return True
        return False

    def mark_missing(self, file_id: int, free_path: str | None = None) -> None:
        """The bytes are gone from the library; faces are kept. `free_path`: the path is taken
        by other content now, so the record moves aside to '<path>\\x00missing:<id>'."""
        if free_path is None:
            self._db._write("UPDATE files SET status = 'missing' WHERE id = ?", (file_id,))
        else:
            self._db._write("UPDATE files SET path = ?, status = 'missing' WHERE id = ?",
                            (f"{free_path}{MISSING_MARK}{file_id}", file_id))

    def contentless_errors(self) -> list[tuple[int, str]]:
        """(id, path) of error records without content or faces (unlistable folders, loops)."""
        return [(r[0], r[1]) for r in self._db._read(
            "SELECT id, path FROM files WHERE status = 'error' AND sha256 IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM faces WHERE faces.file_id = files.id)")]

    def delete(self, file_id: int) -> None:
        self._db._write("DELETE FROM files WHERE id = ?", (file_id,))

    # -- embed -------------------------------------------------------------------------
    def has_pending(self) -> bool:
        return self._db._read("SELECT 1 FROM files WHERE status = 'pending' LIMIT 1").fetchone() is not None

    def pending(self) -> list[tuple[int, str]]:
        """(id, path) of every file waiting to be embedded, in scan order."""
        return [(r[0], r[1]) for r in self._db._read("SELECT id, path FROM files WHERE status = 'pending' ORDER BY id")]

    def mark_error(self, file_id: int, reason: str, run_id: int | None) -> None:
        self._db._write("UPDATE files SET status = 'error', error = ?, done_run = ? WHERE id = ?",
                        (reason, run_id, file_id))

    def mark_embedded(self, file_id: int, status: FileStatus, *, width: int, height: int, taken_at: str | None,
                      model_id: int, input_mode: str, n_faces: int, run_id: int | None) -> None:
        self._db._write(
            "UPDATE files SET status = ?, error = NULL, width = ?, height = ?, taken_at = ?, model_id = ?, "
            "input_mode = ?, n_faces = ?, done_run = ? WHERE id = ?",
            (str(status), width, height, taken_at, model_id, input_mode, n_faces, run_id, file_id))

    def requeue(self, file_ids: Iterable[int], only_embedded: bool = False) -> None:
        """Embed these files again on the next run."""
        extra = " AND status IN ('done', 'noface')" if only_embedded else ""
        self._db._write_many(f"UPDATE files SET status = 'pending', n_faces = NULL, done_run = NULL WHERE id = ?{extra}",
                             [(int(f),) for f in file_ids])

    def error_reasons(self) -> dict[str, int]:
        """Failure reason -> how many files, most frequent first."""
        return dict(self._db._read(
            "SELECT error, COUNT(*) FROM files WHERE status = 'error' GROUP BY error ORDER BY 2 DESC, 1").fetchall())

    # -- outputs -----------------------------------------------------------------------
    def locations(self, file_ids: Iterable[int]) -> dict[int, list[tuple[str, str | None]]]:
        """Every location (first path, then aliases by path) of each file, with its sha256."""
        places: dict[int, list] = defaultdict(list)
        for part in chunks(file_ids):
            q = marks(len(part))
            for r in self._db._read(f"SELECT id, path, sha256 FROM files WHERE id IN ({q})", part):
                places[r[0]].append((r[1], r[2]))
            for r in self._db._read(
                    f"SELECT aliases.file_id, aliases.path, files.sha256 FROM aliases JOIN files "
                    f"ON files.id = aliases.file_id WHERE aliases.file_id IN ({q}) ORDER BY aliases.path", part):
                places[r[0]].append((r[1], r[2]))
        return places

    def ids_with_status(self, status: FileStatus) -> list[int]:
        return [r[0] for r in self._db._read("SELECT id FROM files WHERE status = ? ORDER BY id", (str(status),))]

    def done_without_people(self) -> list[int]:
        """Embedded photos none of whose faces belongs to a person (singletons)."""
        return [r[0] for r in self._db._read(
            "SELECT files.id FROM files WHERE files.status = 'done' AND NOT EXISTS "
            "(SELECT 1 FROM faces WHERE faces.file_id = files.id AND faces.person_id IS NOT NULL) ORDER BY files.id")]

    def id_for_path(self, path: str) -> int | None:
        """The file whose first location or alias is `path`."""
        row = self._db._read("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if row is None:
            row = self._db._read("SELECT file_id FROM aliases WHERE path = ?", (path,)).fetchone()
        return None if row is None else int(row[0])

    def byte_groups(self) -> list[dict]:
        """Every file that lives at more than one path: {file_id, sha256, paths (first one first)}."""
        groups: dict[int, dict] = {}
        for row in self._db._read(
                "SELECT files.id, files.path, files.sha256, aliases.path FROM files "
                "JOIN aliases ON aliases.file_id = files.id ORDER BY files.id, aliases.path"):
            group = groups.setdefault(row[0], {"kind": "bytes", "sha256": row[2], "file_id": row[0],
                                               "paths": [row[1]]})
            group["paths"].append(row[3])
        return list(groups.values())

    # -- embed: files read (and hashed) by the per-file work, on this machine or a cluster --
    def pending_files(self) -> list[FileRow]:
        """Every file waiting to be embedded, in scan order, with the size and date the scan saw
        (its content, sha256, is None until the file is read)."""
        return [_file(r) for r in self._db._read(f"SELECT {_FILE_COLUMNS} FROM files WHERE status = 'pending' ORDER BY id")]

    def set_sha256(self, file_id: int, sha256: str) -> None:
        """A new path's content, known once its bytes were read."""
        self._db._write("UPDATE files SET sha256 = ? WHERE id = ?", (sha256, file_id))
