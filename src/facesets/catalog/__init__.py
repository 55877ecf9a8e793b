"""The catalog: one SQLite database (WAL) per library, the single source of truth.

Files, their aliases, faces with boxes, landmarks and embeddings, people and runs all live
here. Manifests and reports are written from it; nothing else is authoritative.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from facesets.catalog.schema import MIGRATIONS, SCHEMA_VERSION


class CatalogError(RuntimeError):
    """A catalog cannot be opened or used as asked (one-line, user-facing)."""


class CatalogBusy(CatalogError):
    """Another process holds the catalog's writer lock."""


@dataclass(frozen=True)
class ModelInfo:
    id: int
    engine: str
    model: str
    dim: int
    detector: str
    landmark_scheme: str

    @property
    def key(self) -> str:
        return f"{self.engine}/{self.model}"


def to_blob(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=np.float32).tobytes()


def from_blob(blob: bytes | None, shape: tuple[int, ...] = (-1,)) -> np.ndarray | None:
    if blob is None:
        return None
    return np.frombuffer(blob, dtype=np.float32).reshape(shape)


class Catalog:
    """An open catalog. Use `Catalog.open(path)`; close it or use it as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn
        self._lock_fd: int | None = None

    # -- opening ---------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, create: bool = True, readonly: bool = False) -> "Catalog":
        path = Path(path).expanduser().resolve()
        if not path.exists():
            if not create or readonly:
                raise CatalogError(f"no catalog at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
        elif path.is_dir():
            raise CatalogError(f"{path} is a folder, not a catalog file")
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                                       check_same_thread=False)
            else:
                conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
            conn.isolation_level = None   # autocommit: writes happen only in transaction() or alone
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{path} is not a facesets catalog ({exc})") from None
        catalog = cls(path, conn)
        if not readonly:
            catalog._migrate()
        return catalog

    def _migrate(self) -> None:
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path} is not a facesets catalog ({exc})") from None
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer facesets (schema {version} > {SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                for statement in _split_sql(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    def close(self) -> None:
        self.release_writer_lock()
        self.conn.close()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions and the writer lock ---------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (BEGIN IMMEDIATE): all or nothing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def acquire_writer_lock(self, what: str) -> None:
        """Only one long-running writer (embed, run, ...) per catalog at a time."""
        if self._lock_fd is not None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise CatalogBusy(
                f"catalog {self.path} is in use by another facesets process"
                + (f" ({holder})" if holder else "")
                + "; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {what}".encode(), 0)
        self._lock_fd = fd

    def release_writer_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- meta --------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- models ------------------------------------------------------------------
    def register_model(
        self, engine: str, model: str, dim: int, detector: str, landmark_scheme: str
    ) -> ModelInfo:
        """Record the embedding model of this catalog; refuse a second, different one.

        Distances from different models are not comparable, so one catalog holds the
        embeddings of exactly one engine/model.
        """
        existing = self.embedding_model()
        if existing and (existing.engine, existing.model) != (engine, model):
            raise CatalogError(
                f"this catalog holds {existing.key} embeddings; refusing to add {engine}/{model} "
                f"(use another catalog, or --engine {existing.engine})"
            )
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO models(engine, model, dim, detector, landmark_scheme) "
                "VALUES (?, ?, ?, ?, ?)",
                (engine, model, dim, detector, landmark_scheme),
            )
            row = conn.execute(
                "SELECT * FROM models WHERE engine = ? AND model = ? AND detector = ?",
                (engine, model, detector),
            ).fetchone()
            if existing is None:
                self.set_meta("embedding_model", f"{engine}/{model}")
        return _model(row)

    def embedding_model(self) -> ModelInfo | None:
        key = self.get_meta("embedding_model")
        if key is None:
            return None
        engine, model = key.split("/", 1)
        row = self.conn.execute(
            "SELECT * FROM models WHERE engine = ? AND model = ? ORDER BY id LIMIT 1",
            (engine, model),
        ).fetchone()
        return _model(row) if row else None

    # -- runs --------------------------------------------------------------------
    def start_run(self, command: str, params: dict) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs(command, params) VALUES (?, ?)",
                (command, json.dumps(params, sort_keys=True, default=str)),
            )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, stats: dict) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, stats = ?, "
                "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
                (status, json.dumps(stats, sort_keys=True, default=str), run_id),
            )

    def last_run(self, command: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM runs WHERE command = ? ORDER BY id DESC LIMIT 1", (command,)
        ).fetchone()

    # -- faces -------------------------------------------------------------------
    def face_embeddings(self, where: str = "", params: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, float32 (n, dim) matrix) of the faces matching an optional SQL filter."""
        sql = "SELECT faces.id, faces.embedding FROM faces JOIN files ON files.id = faces.file_id"
        if where:
            sql += f" WHERE {where}"
        sql += " ORDER BY faces.id"
        rows = self.conn.execute(sql, params).fetchall()
        if not rows:
            model = self.embedding_model()
            return np.zeros(0, np.int64), np.zeros((0, model.dim if model else 0), np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return ids, matrix.copy()

    def face_photos(self) -> list[sqlite3.Row]:
        """Every face (by id) with its photo: id, file_id, face_index (largest first), path,
        width, height, box (x1, y1, x2, y2) and short_edge. Benchmarks label faces from these."""
        return self.conn.execute(
            "SELECT faces.id, faces.file_id, faces.face_index, files.path, files.width, files.height, "
            "faces.x1, faces.y1, faces.x2, faces.y2, faces.short_edge "
            "FROM faces JOIN files ON files.id = faces.file_id ORDER BY faces.id").fetchall()

    # -- summaries ---------------------------------------------------------------
    def counts(self) -> dict:
        q = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        by_status = dict(self.conn.execute("SELECT status, COUNT(*) FROM files GROUP BY status"))
        return {
            "files": q("SELECT COUNT(*) FROM files"),
            "aliases": q("SELECT COUNT(*) FROM aliases"),
            "faces": q("SELECT COUNT(*) FROM faces"),
            "embedded": by_status.get("done", 0),
            "no_face": by_status.get("noface", 0),
            "pending": by_status.get("pending", 0),
            "errors": by_status.get("error", 0),
            "missing": by_status.get("missing", 0),
            "people": q("SELECT COUNT(*) FROM people WHERE merged_into IS NULL"),
        }

    def errors(self) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT path, error FROM files WHERE status = 'error' ORDER BY path"
        ).fetchall()


def _model(row: sqlite3.Row) -> ModelInfo:
    return ModelInfo(
        row["id"], row["engine"], row["model"], row["dim"], row["detector"], row["landmark_scheme"]
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, comments removed (none of our literals hold '--' or ';')."""
    script = re.sub(r"--[^\n]*", "", script)
    return [chunk.strip() for chunk in script.split(";") if chunk.strip()]
