"""`Catalog`: one SQLite database (WAL) per library, the single source of truth.

All SQL lives in this package. `Catalog` holds the connection (private), transactions, the
writer lock and the stage lifecycle; the repositories (`catalog.files`, `.faces`, `.people`,
`.runs`, `.operations`, `.exports`, `.integrity`) hold the statements, and callers pass them
Python values. Manifests and reports are written from it; nothing else is authoritative.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from facesets.catalog import centroids
from facesets.catalog.schema import MIGRATIONS, SCHEMA_VERSION
from facesets.catalog.types import ModelInfo, RunStatus

log = logging.getLogger("facesets")


class CatalogError(RuntimeError):
    """A catalog cannot be opened or used as asked (one-line, user-facing)."""


class CatalogBusy(CatalogError):
    """Another process holds the catalog's writer lock."""


@dataclass
class Run:
    """The run a stage records: its id, the stats it finishes with (a dict, or an object with
    `as_dict()` that the stage keeps up to date), and writes that must commit together with the
    run's success (`on_done`), so a crash never leaves one without the other."""
    id: int
    command: str
    stats: object = field(default_factory=dict)
    on_done: list = field(default_factory=list)


class Catalog:
    """An open catalog. Use `Catalog.open(path)`; close it or use it as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        from facesets.catalog.exports import ExportsRepo
        from facesets.catalog.faces import FacesRepo
        from facesets.catalog.files import FilesRepo
        from facesets.catalog.integrity import IntegrityRepo
        from facesets.catalog.operations import OperationsRepo
        from facesets.catalog.people import PeopleRepo
        from facesets.catalog.runs import RunsRepo

        self.path = path
        self._conn = conn
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._batch: BatchedWrites | None = None
        self.files = FilesRepo(self)
        self.faces = FacesRepo(self)
        self.people = PeopleRepo(self)
        self.runs = RunsRepo(self)
        self.operations = OperationsRepo(self)
        self.exports = ExportsRepo(self)
        self.integrity = IntegrityRepo(self)

    # -- opening ---------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, create: bool = True, readonly: bool = False,
             migrate: bool = True) -> "Catalog":
        """Open (and, unless `readonly` or not `migrate`, upgrade) the catalog at `path`.
        `create`: make a new empty catalog when there is none."""
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
        if not readonly and migrate:
            catalog._migrate()
        return catalog

    def _migrate(self) -> None:
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path} is not a facesets catalog ({exc})") from None
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer facesets (schema {version} > {SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _split_sql(MIGRATIONS[number]):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number + 1}")
                if self.get_meta(centroids.STALE_MARK) is not None:   # the migration that adds them
                    centroids.recompute(self)
                    self._write("DELETE FROM meta WHERE key = ?", (centroids.STALE_MARK,))

    def close(self) -> None:
        self._lock_depth = min(self._lock_depth, 1)
        self.release_writer_lock()
        self._conn.close()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- statements (for the repositories of this package only) -------------------
    def _read(self, sql: str, params=()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def _write(self, sql: str, params=()) -> sqlite3.Cursor:
        if self._batch is not None:
            self._batch.begin()
        return self._conn.execute(sql, params)

    def _write_many(self, sql: str, rows) -> None:
        if self._batch is not None:
            self._batch.begin()
        self._conn.executemany(sql, rows)

    # -- transactions and the writer lock ---------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator["Catalog"]:
        """A short write transaction (BEGIN IMMEDIATE): all or nothing. Inside another one it
        joins it, so repository calls group into the caller's transaction."""
        if self._conn.in_transaction:
            yield self
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def batched_writes(self, seconds: float) -> Iterator["BatchedWrites"]:
        """Writes grouped into transactions opened on the first write and committed by the
        caller (`commit(force=False)` once `seconds` have passed, or before any slow step),
        so a long scan never holds the write lock while it reads a disk."""
        batch = BatchedWrites(self._conn, seconds)
        self._batch = batch
        try:
            yield batch
            batch.commit()
        except BaseException:
            batch.rollback()
            raise
        finally:
            self._batch = None

    def acquire_writer_lock(self, what: str) -> None:
        """Only one long-running writer (embed, run, ...) per catalog at a time. Re-entrant:
        `facesets run` holds it across its stages, each of which takes it again."""
        if self._lock_fd is not None:
            self._lock_depth += 1
            return
        lock_path = self.lock_path
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
        self._lock_depth = 1

    def release_writer_lock(self) -> None:
        if self._lock_fd is None:
            return
        self._lock_depth -= 1
        if self._lock_depth > 0:
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None
        self._lock_depth = 0

    @contextlib.contextmanager
    def writer(self, what: str) -> Iterator["Catalog"]:
        """Hold the writer lock for a block (re-entrant)."""
        self.acquire_writer_lock(what)
        try:
            yield self
        finally:
            self.release_writer_lock()

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def holds_writer_lock(self) -> bool:
        return self._lock_fd is not None

    def writer_active(self) -> bool:
        """Whether another process holds the catalog's writer lock right now."""
        if self._lock_fd is not None or not self.lock_path.exists():
            return False
        fd = os.open(self.lock_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    # -- the stage lifecycle -------------------------------------------------------
    @contextlib.contextmanager
    def stage(self, command: str, params: dict | None = None) -> Iterator[Run]:
        """One stage of the pipeline: takes the writer lock, records the run, and finishes it
        done, interrupted (Ctrl-C: what was committed stays, the interrupt goes on up) or
        failed, with the stats the block left in `run.stats`."""
        with self.writer(command):
            run = Run(self.runs.start(command, params or {}), command)
            try:
                yield run
            except KeyboardInterrupt:
                self.runs.finish(run.id, RunStatus.INTERRUPTED, _stats(run))
                raise
            except BaseException:
                self.runs.finish(run.id, RunStatus.FAILED, _stats(run))
                raise
            with self.transaction():
                for write in run.on_done:
                    write()
                self.runs.finish(run.id, RunStatus.DONE, _stats(run))

    # -- meta --------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._read("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self._write(
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
        with self.transaction():
            self._write(
                "INSERT OR IGNORE INTO models(engine, model, dim, detector, landmark_scheme) "
                "VALUES (?, ?, ?, ?, ?)",
                (engine, model, dim, detector, landmark_scheme),
            )
            row = self._read(
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
        row = self._read(
            "SELECT * FROM models WHERE engine = ? AND model = ? ORDER BY id LIMIT 1",
            (engine, model),
        ).fetchone()
        return _model(row) if row else None

    def embedding_dim(self) -> int:
        model = self.embedding_model()
        return model.dim if model else 0

    # -- summaries ---------------------------------------------------------------
    def counts(self) -> dict:
        q = lambda sql: self._read(sql).fetchone()[0]  # noqa: E731
        by_status = dict(self._read("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())
        return {
            "files": q("SELECT COUNT(*) FROM files"),
            "aliases": q("SELECT COUNT(*) FROM aliases"),
            "faces": q("SELECT COUNT(*) FROM faces"),
            "embedded": by_status.get("done", 0),
            "no_face": by_status.get("noface", 0),
            "multi_face": by_status.get("multiface", 0),
            "pending": by_status.get("pending", 0),
            "errors": by_status.get("error", 0),
            "missing": by_status.get("missing", 0),
            "people": q("SELECT COUNT(*) FROM people WHERE merged_into IS NULL"),
        }

    def errors(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that failed, by path."""
        return [(r[0], r[1]) for r in self._read(
            "SELECT path, error FROM files WHERE status = 'error' ORDER BY path")]


class BatchedWrites:
    """A transaction opened on the first write and committed when asked (see
    `Catalog.batched_writes`)."""

    def __init__(self, conn: sqlite3.Connection, seconds: float):
        self._conn = conn
        self.seconds = seconds
        self.opened_at: float | None = None

    def begin(self) -> None:
        if self.opened_at is None:
            self._conn.execute("BEGIN IMMEDIATE")
            self.opened_at = time.monotonic()

    def commit(self, force: bool = True) -> None:
        if self.opened_at is not None and (force or time.monotonic() - self.opened_at > self.seconds):
            self._conn.execute("COMMIT")
            self.opened_at = None

    def rollback(self) -> None:
        if self.opened_at is not None:
            self._conn.execute("ROLLBACK")
            self.opened_at = None


def _stats(run: Run) -> dict:
    stats = run.stats
    return stats.as_dict() if hasattr(stats, "as_dict") else dict(stats or {})


def _model(row: sqlite3.Row) -> ModelInfo:
    return ModelInfo(
        row["id"], row["engine"], row["model"], row["dim"], row["detector"], row["landmark_scheme"]
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, comments removed (none of our literals hold '--' or ';')."""
    script = re.sub(r"--[^\n]*", "", script)
    return [chunk.strip() for chunk in script.split(";") if chunk.strip()]
