"""Operations: curation plans (planned), their undo journals (applied), and undo (undone)."""
from __future__ import annotations

import json

from facesets.catalog.types import Operation


def _row(r) -> Operation:
    return Operation(r["id"], r["command"], r["status"], json.loads(r["plan"]),
                     json.loads(r["journal"]) if r["journal"] else None)


def _json(data) -> str:
    return json.dumps(data, sort_keys=True, default=str)


class OperationsRepo:
    def __init__(self, db):
        self._db = db

    def add(self, command: str, plan: dict) -> int:
        """Store a plan (status planned); its stored copy carries its own id as `operation_id`."""
        with self._db.transaction():
            op_id = int(self._db._write("INSERT INTO operations(command, plan) VALUES (?, ?)",
                                        (command, _json(plan))).lastrowid)
            self._db._write("UPDATE operations SET plan = ? WHERE id = ?", (_json({**plan, "operation_id": op_id}), op_id))
        return op_id

    def get(self, op_id: int) -> Operation | None:
        row = self._db._read("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone()
        return _row(row) if row else None

    def mark_applied(self, op_id: int, journal: dict) -> None:
        self._db._write("UPDATE operations SET status = 'applied', journal = ?, "
                        "applied_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?", (_json(journal), op_id))

    def last_applied(self) -> Operation | None:
        row = self._db._read("SELECT * FROM operations WHERE status = 'applied' "
                             "ORDER BY applied_at DESC, id DESC LIMIT 1").fetchone()
        return _row(row) if row else None

    def mark_undone(self, op_id: int) -> None:
        self._db._write("UPDATE operations SET status = 'undone', "
                        "undone_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?", (op_id,))
