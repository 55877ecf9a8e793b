"""Exports: every export written, so the web UI and curation find the latest tree."""
from __future__ import annotations

import json
from pathlib import Path

from facesets.catalog.types import ExportRow


def _row(r) -> ExportRow:
    return ExportRow(r["id"], r["out"], json.loads(r["targets"]), json.loads(r["params"]), r["run_id"],
                     r["created_at"])


class ExportsRepo:
    def __init__(self, db):
        self._db = db

    def add(self, out: str | Path, targets: list[str], params: dict, run_id: int | None) -> int:
        with self._db.transaction():
            cur = self._db._write("INSERT INTO exports(out, targets, params, run_id) VALUES (?, ?, ?, ?)",
                                  (str(out), json.dumps(list(targets)), json.dumps(params, sort_keys=True), run_id))
        return int(cur.lastrowid)

    def latest(self) -> ExportRow | None:
        row = self._db._read("SELECT * FROM exports ORDER BY id DESC LIMIT 1").fetchone()
        return _row(row) if row else None

    def history(self, limit: int = 20) -> list[ExportRow]:
        return [_row(r) for r in self._db._read("SELECT * FROM exports ORDER BY id DESC LIMIT ?", (limit,))]
