"""Exports: every export written, so the web UI and curation find the latest tree; and the faces
export's re-detection found in each crop it checked (by PNG digest), so no crop is checked twice."""
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

    def crop_faces(self, detector: str, digests) -> dict[str, int]:
        """Faces `detector` found in the crops with these PNG digests, for those it has looked at."""
        digests, found = list(digests), {}
        for start in range(0, len(digests), 500):
            chunk = digests[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update((r["digest"], r["faces"]) for r in self._db._read(
                f"SELECT digest, faces FROM crop_checks WHERE detector = ? AND digest IN ({marks})", (detector, *chunk)))
        return found

    def add_crop_faces(self, detector: str, faces: dict[str, int]) -> None:
        with self._db.transaction():
            self._db._write_many("INSERT OR REPLACE INTO crop_checks(digest, detector, faces) VALUES (?, ?, ?)",
                                 [(digest, detector, int(n)) for digest, n in faces.items()])
