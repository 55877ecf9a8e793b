"""People: rows in the catalog whose numbers are never reused, and the edits users make to them.

Every stage (cluster, extend, refine, the web UI, curation, import) changes people only through
these functions, so user decisions are kept the same way everywhere:
- a face the user removed from a person is recorded in `face_exclusions` and never rejoins it;
- a face placed by the user (`assigned_by = 'user'`) is never moved by clustering;
- a merged person keeps its row (`merged_into`, status 'merged') so its number is never reused.
"""
from __future__ import annotations

import sqlite3
from typing import Iterable

import numpy as np

from .catalog import Catalog

USER = "user"
IMPORT = "import"
KEPT_ASSIGNMENTS = (USER, IMPORT)   # clustering never moves these faces


def create_person(conn: sqlite3.Connection, *, name: str | None = None, run_id: int | None = None,
                  imported: bool = False, source: str | None = None, parent_id: int | None = None,
                  era: str | None = None, pinned: bool = False) -> int:
    """A new person numbered after every person there ever was."""
    cur = conn.execute(
        "INSERT INTO people(name, pinned, imported, source, parent_id, era, created_run) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, int(pinned), int(imported), source, parent_id, era, run_id))
    return int(cur.lastrowid)


def assign_faces(conn: sqlite3.Connection, face_ids: Iterable[int], person_id: int | None,
                 by: str, run_id: int | None = None) -> None:
    """Point faces at a person (None: unassigned). Clears refine's gate verdict."""
    conn.executemany(
        "UPDATE faces SET person_id = ?, assigned_by = ?, clustered_run = ?, gate = NULL WHERE id = ?",
        [(person_id, by if person_id is not None else None, run_id, int(f)) for f in face_ids])


def remove_faces(conn: sqlite3.Connection, face_ids: Iterable[int], person_id: int) -> None:
    """The user says these faces are not this person: unassign and remember it."""
    face_ids = [int(f) for f in face_ids]
    conn.executemany("INSERT OR IGNORE INTO face_exclusions(face_id, person_id) VALUES (?, ?)",
                     [(f, person_id) for f in face_ids])
    conn.executemany("UPDATE faces SET person_id = NULL, assigned_by = ?, gate = NULL "
                     "WHERE id = ? AND person_id = ?", [(USER, f, person_id) for f in face_ids])


def move_faces(conn: sqlite3.Connection, face_ids: Iterable[int], to_person: int) -> None:
    """The user moves faces to another person: excluded from where they were, pinned where they go."""
    face_ids = [int(f) for f in face_ids]
    for face_id in face_ids:
        row = conn.execute("SELECT person_id FROM faces WHERE id = ?", (face_id,)).fetchone()
        if row and row[0] is not None and row[0] != to_person:
            conn.execute("INSERT OR IGNORE INTO face_exclusions(face_id, person_id) VALUES (?, ?)",
                         (face_id, row[0]))
    conn.execute("DELETE FROM face_exclusions WHERE person_id = ? AND face_id IN (%s)"
                 % ",".join("?" * len(face_ids)), (to_person, *face_ids))
    assign_faces(conn, face_ids, to_person, USER)


def split_faces(conn: sqlite3.Connection, face_ids: Iterable[int], name: str | None = None) -> int:
    """The user splits faces off into a new person."""
    person_id = create_person(conn, name=name, pinned=True)
    move_faces(conn, face_ids, person_id)
    return person_id


def merge_people(conn: sqlite3.Connection, sources: Iterable[int], into: int, by: str = USER) -> None:
    """Fold people into one; the folded rows stay (status 'merged') so numbers are never reused."""
    for source in sources:
        source = int(source)
        if source == into:
            continue
        conn.execute("UPDATE faces SET person_id = ?, assigned_by = CASE WHEN assigned_by IN (?, ?) "
                     "THEN assigned_by ELSE ? END WHERE person_id = ?",
                     (into, USER, IMPORT, by, source))
        conn.execute("UPDATE people SET merged_into = ?, status = 'merged' WHERE id = ?", (into, source))
        conn.execute("UPDATE people SET merged_into = ? WHERE merged_into = ?", (into, source))


def rename_person(conn: sqlite3.Connection, person_id: int, name: str | None) -> None:
    """A user-named person is pinned: it stays primary in consolidation."""
    conn.execute("UPDATE people SET name = ?, pinned = CASE WHEN ? IS NULL THEN pinned ELSE 1 END "
                 "WHERE id = ?", (name or None, name or None, person_id))


def resolve(conn: sqlite3.Connection, person_id: int) -> int:
    """Follow merges to the person that holds the faces now."""
    seen = set()
    while person_id not in seen:
        seen.add(person_id)
        row = conn.execute("SELECT merged_into FROM people WHERE id = ?", (person_id,)).fetchone()
        if not row or row[0] is None:
            return person_id
        person_id = row[0]
    return person_id


def exclusions(conn: sqlite3.Connection) -> set[tuple[int, int]]:
    """Every (face, person) pair the user ruled out."""
    return {(int(f), int(p)) for f, p in conn.execute("SELECT face_id, person_id FROM face_exclusions")}


def label(person_row) -> str:
    """What a person is called in folder names and pages: its name, else person_NNN."""
    return person_row["name"] or f"person_{person_row['id']:03d}"


def active_people(catalog: Catalog) -> list[sqlite3.Row]:
    """People that hold faces now (not merged away), with their face counts."""
    return catalog.conn.execute(
        "SELECT people.*, COUNT(faces.id) AS n_faces FROM people JOIN faces ON faces.person_id = people.id "
        "WHERE people.merged_into IS NULL GROUP BY people.id ORDER BY people.id").fetchall()


def person_centroids(catalog: Catalog, person_ids: Iterable[int] | None = None,
                     gated: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(person ids, L2-normalised centroid matrix) of the people's faces.

    With `gated`, faces refine left out (faces.gate not NULL) are ignored, unless a person has
    nothing else."""
    where = "faces.person_id IS NOT NULL"
    params: tuple = ()
    if person_ids is not None:
        ids = [int(p) for p in person_ids]
        where += " AND faces.person_id IN (%s)" % ",".join("?" * len(ids)) if ids else " AND 0"
        params = tuple(ids)
    rows = catalog.conn.execute(
        f"SELECT faces.person_id, faces.gate, faces.embedding FROM faces WHERE {where} "
        "ORDER BY faces.person_id", params).fetchall()
    if not rows:
        model = catalog.embedding_model()
        return np.zeros(0, np.int64), np.zeros((0, model.dim if model else 0), np.float32)
    persons = np.array([r[0] for r in rows], np.int64)
    kept = np.array([r[1] is None for r in rows]) if gated else np.ones(len(rows), bool)
    matrix = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), -1)
    unique = np.unique(persons)
    centroids = np.zeros((len(unique), matrix.shape[1]), np.float32)
    for i, pid in enumerate(unique):
        mask = persons == pid
        use = mask & kept if (mask & kept).any() else mask
        centroids[i] = matrix[use].mean(axis=0)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    return unique, centroids / np.maximum(norms, 1e-12)
