"""Runs: one row per stage run (embed, cluster, export, ...), its parameters and its stats."""
from __future__ import annotations

import json

from facesets.catalog.types import RunRow, RunStatus


def _row(r) -> RunRow:
    return RunRow(r["id"], r["command"], r["status"], json.loads(r["params"] or "{}"),
                  json.loads(r["stats"]) if r["stats"] else None, r["started_at"], r["finished_at"])


class RunsRepo:
    def __init__(self, db):
        self._db = db

    def start(self, command: str, params: dict) -> int:
        with self._db.transaction():
            cur = self._db._write("INSERT INTO runs(command, params) VALUES (?, ?)",
                                  (command, json.dumps(params, sort_keys=True, default=str)))
        return int(cur.lastrowid)

    def finish(self, run_id: int, status: RunStatus, stats: dict) -> None:
        with self._db.transaction():
            self._db._write("UPDATE runs SET status = ?, stats = ?, "
                            "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
                            (str(status), json.dumps(stats, sort_keys=True, default=str), run_id))

    def last(self, command: str) -> RunRow | None:
        row = self._db._read("SELECT * FROM runs WHERE command = ? ORDER BY id DESC LIMIT 1", (command,)).fetchone()
        return _row(row) if row else None

    def get(self, run_id: int) -> RunRow | None:
        row = self._db._read("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _row(row) if row else None

    def all(self, command: str | None = None) -> list[RunRow]:
        if command is None:
            return [_row(r) for r in self._db._read("SELECT * FROM runs ORDER BY id")]
        return [_row(r) for r in self._db._read("SELECT * FROM runs WHERE command = ? ORDER BY id", (command,))]

    def finished(self, commands: tuple[str, ...]) -> set[str]:
        """Which of `commands` have finished at least once."""
        return {r[0] for r in self._db._read(
            f"SELECT DISTINCT command FROM runs WHERE status = 'done' AND command IN ({','.join('?' * len(commands))})",
            commands)}

    def running(self) -> list[RunRow]:
        """Runs still marked running (a live writer's, or a crashed one's)."""
        return [_row(r) for r in self._db._read("SELECT * FROM runs WHERE status = 'running' ORDER BY id")]

    def mark_interrupted(self, run_ids) -> None:
        self._db._write_many("UPDATE runs SET status = 'interrupted', "
                             "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
                             [(int(r),) for r in run_ids])
