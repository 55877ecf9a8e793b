"""The reads and repairs `facesets doctor` needs: what a crash, a lost disk or a hand edit can
leave inconsistent across tables. Repairs never delete a user decision."""
from __future__ import annotations

from typing import Iterable, Iterator

from facesets.catalog import centroids
from facesets.catalog.types import KEPT_ASSIGNMENTS


class IntegrityRepo:
    def __init__(self, db):
        self._db = db

    def quick_check(self) -> list[str]:
        """SQLite's own verdict: empty when it finds no damage."""
        rows = [r[0] for r in self._db._read("PRAGMA quick_check").fetchall()]
        return [] if rows == ["ok"] else rows

    def orphan_face_files(self) -> list[int]:
        """Photo ids faces point at that have no file record."""
        return [r[0] for r in self._db._read(
            "SELECT DISTINCT file_id FROM faces WHERE file_id NOT IN (SELECT id FROM files) ORDER BY file_id")]

    def recreate_missing_files(self, file_ids: Iterable[int], reason: str) -> None:
        with self._db.transaction():
            for file_id in file_ids:
                self._db._write("INSERT INTO files(id, path, size, mtime_ns, status, error) "
                                "VALUES (?, ?, 0, 0, 'missing', ?)", (file_id, f"\x00orphan:{file_id}", reason))

    def orphan_aliases(self) -> list[tuple[int, str]]:
        return [(r[0], r[1]) for r in self._db._read(
            "SELECT id, path FROM aliases WHERE file_id NOT IN (SELECT id FROM files) ORDER BY id")]

    def delete_aliases(self, alias_ids: Iterable[int]) -> None:
        with self._db.transaction():
            self._db._write_many("DELETE FROM aliases WHERE id = ?", [(int(a),) for a in alias_ids])

    def missing_people(self) -> list[int]:
        """Person ids that faces, merges or removals refer to but that have no row."""
        return [r[0] for r in self._db._read(
            "SELECT person_id FROM faces WHERE person_id IS NOT NULL "
            "UNION SELECT merged_into FROM people WHERE merged_into IS NOT NULL "
            "UNION SELECT person_id FROM face_exclusions "
            "EXCEPT SELECT id FROM people ORDER BY 1")]

    def recreate_people(self, person_ids: Iterable[int], source: str) -> None:
        with self._db.transaction():
            for person_id in person_ids:
                self._db._write("INSERT INTO people(id, source) VALUES (?, ?)", (person_id, source))

    def dangling_exclusions(self) -> list[tuple[int, int]]:
        return [(r[0], r[1]) for r in self._db._read(
            "SELECT face_id, person_id FROM face_exclusions WHERE face_id NOT IN (SELECT id FROM faces) "
            "ORDER BY face_id")]

    def present_files(self) -> Iterator[tuple[int, str, str | None]]:
        """(id, path, sha256) of every file not marked missing."""
        for r in self._db._read("SELECT id, path, sha256 FROM files WHERE status != 'missing' ORDER BY id"):
            yield r[0], r[1], r[2]

    def all_aliases(self) -> Iterator[tuple[int, str]]:
        for r in self._db._read("SELECT id, path FROM aliases ORDER BY id"):
            yield r[0], r[1]

    def known_content_count(self) -> int:
        return self._db._read("SELECT COUNT(*) FROM files WHERE sha256 IS NOT NULL AND status != 'missing'").fetchone()[0]

    def model_face_counts(self) -> list[tuple[int, str, str, int]]:
        """(model id, engine, model, faces) of every model faces use, most faces first."""
        return [tuple(r) for r in self._db._read(
            "SELECT models.id, engine, model, COUNT(*) AS n FROM faces JOIN models "
            "ON models.id = faces.model_id GROUP BY models.id ORDER BY n DESC")]

    def model_ids(self, engine: str, model: str) -> set[int]:
        return {r[0] for r in self._db._read("SELECT id FROM models WHERE engine = ? AND model = ?", (engine, model))}

    def embeddings_to_check(self) -> Iterator[tuple[int, int, int, bytes | None, bool]]:
        """(face id, photo id, model id, embedding blob, carries a user decision) of every face."""
        kept = ",".join(f"'{k}'" for k in KEPT_ASSIGNMENTS)
        for r in self._db._read(
                f"SELECT faces.id, faces.file_id, faces.model_id, faces.embedding, "
                f"(faces.assigned_by IN ({kept}) OR EXISTS (SELECT 1 FROM face_exclusions e WHERE e.face_id = faces.id)) "
                "FROM faces ORDER BY faces.id"):
            yield r[0], r[1], r[2], r[3], bool(r[4])

    def drop_faces_and_requeue(self, face_ids: Iterable[int]) -> None:
        """Delete these faces; their photos left without faces are embedded again."""
        face_ids = [int(f) for f in face_ids]
        with self._db.transaction():
            files = sorted({r[0] for f in face_ids for r in self._db._read("SELECT file_id FROM faces WHERE id = ?", (f,))})
            centroids.change(self._db, {f: (None, False) for f in face_ids})   # they leave their people
            self._db._write_many("DELETE FROM faces WHERE id = ?", [(f,) for f in face_ids])
            empty = [f for f in files
                     if self._db._read("SELECT COUNT(*) FROM faces WHERE file_id = ?", (f,)).fetchone()[0] == 0]
            self._db.files.requeue(empty, only_embedded=True)

    def faceless_done(self) -> list[tuple[int, str]]:
        """(id, path) of photos marked embedded with faces that hold none."""
        return [(r[0], r[1]) for r in self._db._read(
            "SELECT id, path FROM files WHERE status = 'done' AND NOT EXISTS "
            "(SELECT 1 FROM faces WHERE faces.file_id = files.id) ORDER BY id")]

    def dump(self) -> dict[str, tuple[list[str], list[tuple]]]:
        """Every table, whole: name -> (columns, rows in rowid order). For comparing two catalogs
        (a crashed-and-resumed run against a clean one) and for support."""
        tables = [r[0] for r in self._db._read(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        found = {}
        for table in tables:
            columns = [r[1] for r in self._db._read(f"PRAGMA table_info({table})")]
            found[table] = (columns, [tuple(r) for r in self._db._read(f"SELECT * FROM {table} ORDER BY rowid")])
        return found

    def merge_links(self) -> dict[int, int]:
        """person id -> the person it is merged into."""
        return dict(self._db._read("SELECT id, merged_into FROM people WHERE merged_into IS NOT NULL").fetchall())

    # -- scale --
    def stale_centroids(self) -> list[int]:
        """People whose stored centroid row (count and sums) differs from their faces."""
        return centroids.stale(self._db)

    def recompute_centroids(self, person_ids: Iterable[int] | None = None) -> int:
        """Rewrite the stored centroid rows of these people (None: everyone) from their faces."""
        return centroids.recompute(self._db, person_ids)
