"""Read-only queries behind the pages. Kept apart from the routes so the SQL that must stay fast
with thousands of people (the grid) is in one place and can be benchmarked on its own."""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

import numpy as np

from facesets.catalog import Catalog
from facesets.people import exclusions, person_centroids, resolve
from facesets.profiles import profile_for
from facesets.web.settings import stored

PAGE_SIZE = 60
FACE_PAGE = 240
SORTS = {
    "count": "n_faces DESC, p.id",
    "count_asc": "n_faces ASC, p.id",
    "number": "p.id",
    "name": "p.name IS NULL, p.name COLLATE NOCASE, p.id",
    "quality": "quality IS NULL, quality DESC, p.id",
    "recent": "p.id DESC",
}
# a face's rank within its person: best first (quality when enrich ran, else size and score)
FACE_ORDER = "f.quality IS NULL, f.quality DESC, f.short_edge * f.det_score DESC, f.id"


@dataclass
class Grid:
    rows: list[dict]
    total: int
    page: int
    pages: int


def people_grid(conn: sqlite3.Connection, *, sort: str = "count", q: str = "", min_faces: int = 1,
                named: str = "", status: str = "", page: int = 1, page_size: int = PAGE_SIZE) -> Grid:
    """One page of people (not merged away) with count, mean quality and cover face."""
    where, params = ["p.merged_into IS NULL"], []
    q = q.strip()
    if q:
        number = re.fullmatch(r"(?:person_|#)?0*(\d+)", q, re.I)
        if number:
            where.append("(p.id = ? OR p.name LIKE ?)")
            params += [int(number.group(1)), f"%{q}%"]
        else:
            where.append("p.name LIKE ?")
            params.append(f"%{q}%")
    if named == "yes":
        where.append("p.name IS NOT NULL")
    elif named == "no":
        where.append("p.name IS NULL")
    if status:
        where.append("p.status = ?")
        params.append(status)
    having = "HAVING COUNT(f.id) >= ?"
    base = (f"FROM people p JOIN faces f ON f.person_id = p.id WHERE {' AND '.join(where)} "
            f"GROUP BY p.id {having}")
    args = (*params, max(1, int(min_faces)))
    order = SORTS.get(sort, SORTS["count"])

    def fetch(page: int) -> list:
        # one pass: the window count gives the total number of matching people with the page
        return conn.execute(
            f"SELECT p.id, p.name, p.status, p.faceset, p.pinned, COUNT(f.id) AS n_faces, "
            f"AVG(f.quality) AS quality, COUNT(*) OVER () AS total_rows {base} ORDER BY {order} "
            f"LIMIT ? OFFSET ?", (*args, page_size, (page - 1) * page_size)).fetchall()

    page = max(1, page)
    rows = fetch(page)
    if rows:
        total = rows[0]["total_rows"]
    else:
        total = conn.execute(f"SELECT COUNT(*) FROM (SELECT p.id {base})", args).fetchone()[0]
        if total and page > 1:
            page = -(-total // page_size)
            rows = fetch(page)
    pages = max(1, -(-total // page_size))
    out = []
    for row in rows:
        item = dict(row)
        item["label"] = person_label(row)
        item["cover"] = cover_face(conn, row["id"])
        out.append(item)
    return Grid(out, total, page, pages)


def person_label(row) -> str:
    return row["name"] or f"person_{row['id']:03d}"


def cover_face(conn: sqlite3.Connection, person_id: int) -> int | None:
    """The person's best face: the one shown on the grid."""
    row = conn.execute(f"SELECT f.id FROM faces f WHERE f.person_id = ? ORDER BY {FACE_ORDER} LIMIT 1",
                       (person_id,)).fetchone()
    return row[0] if row else None


def person(conn: sqlite3.Connection, person_id: int) -> dict | None:
    row = conn.execute("SELECT * FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        return None
    item = dict(row)
    item["label"] = person_label(row)
    stats = conn.execute(
        "SELECT COUNT(f.id), AVG(f.quality), MIN(fl.taken_at), MAX(fl.taken_at), "
        "SUM(f.gate IS NULL) FROM faces f LEFT JOIN files fl ON fl.id = f.file_id WHERE f.person_id = ?",
        (person_id,)).fetchone()
    item.update(n_faces=stats[0], quality=stats[1], first_date=stats[2], last_date=stats[3],
                n_in_faceset=stats[4] or 0)
    return item


def person_faces(conn: sqlite3.Connection, person_id: int, page: int = 1, page_size: int = FACE_PAGE) -> list[dict]:
    rows = conn.execute(
        f"SELECT f.id, f.file_id, f.quality, f.short_edge, f.det_score, f.gate, f.assigned_by, "
        f"fl.taken_at, fl.path FROM faces f JOIN files fl ON fl.id = f.file_id WHERE f.person_id = ? "
        f"ORDER BY {FACE_ORDER} LIMIT ? OFFSET ?", (person_id, page_size, (max(1, page) - 1) * page_size))
    return [_face(r) for r in rows]


def _face(row) -> dict:
    item = dict(row)
    path = item.pop("path", "") or ""
    item["photo"] = path.replace("\\", "/").rsplit("/", 1)[-1]
    return item


def people_choices(conn: sqlite3.Connection, limit: int = 300) -> list[dict]:
    """Targets offered for move/merge: named people first, then the biggest."""
    rows = conn.execute(
        "SELECT p.id, p.name, COUNT(f.id) AS n FROM people p JOIN faces f ON f.person_id = p.id "
        "WHERE p.merged_into IS NULL GROUP BY p.id ORDER BY p.name IS NULL, n DESC LIMIT ?", (limit,))
    return [{"id": r["id"], "label": person_label(r), "n": r["n"]} for r in rows]


def find_person(conn: sqlite3.Connection, text: str) -> int | None:
    """A person typed by the user: a number, person_NNN, or an exact name (case-insensitive)."""
    text = (text or "").strip()
    if not text:
        return None
    number = re.fullmatch(r"(?:person_|#)?0*(\d+)", text, re.I)
    if number:
        row = conn.execute("SELECT id FROM people WHERE id = ?", (int(number.group(1)),)).fetchone()
        return resolve(conn, row[0]) if row else None
    rows = conn.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE AND merged_into IS NULL",
                        (text,)).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def unsorted(catalog: Catalog, page: int = 1, page_size: int = PAGE_SIZE) -> tuple[list[dict], int]:
    """Faces nobody holds and faces alone in their person, each with the nearest person's centroid
    as a suggestion when it is within the match distance (the settings page's, else the profile's)."""
    conn = catalog.conn
    where = ("f.person_id IS NULL OR f.person_id IN (SELECT person_id FROM faces WHERE person_id IS NOT NULL "
             "GROUP BY person_id HAVING COUNT(*) = 1)")
    total = conn.execute(f"SELECT COUNT(*) FROM faces f WHERE {where}").fetchone()[0]
    rows = conn.execute(
        f"SELECT f.id, f.file_id, f.person_id, f.quality, f.short_edge, f.det_score, f.gate, f.assigned_by, "
        f"f.embedding, fl.taken_at, fl.path FROM faces f JOIN files fl ON fl.id = f.file_id WHERE {where} "
        f"ORDER BY f.id LIMIT ? OFFSET ?", (page_size, (max(1, page) - 1) * page_size)).fetchall()
    faces = []
    for row in rows:
        item = _face({k: row[k] for k in row.keys() if k != "embedding"})
        item["embedding"] = np.frombuffer(row["embedding"], np.float32)
        faces.append(item)
    suggest(catalog, faces)
    for item in faces:
        item.pop("embedding")
    return faces, total


def suggest(catalog: Catalog, faces: list[dict]) -> None:
    """Set 'suggested' (person id) and 'distance' on each face dict holding an 'embedding'."""
    if not faces:
        return
    ids, centroids = person_centroids(catalog)
    if not len(ids):
        return
    model = catalog.embedding_model()
    limit = profile_for(model.key if model else None).match_distance
    limit = float(stored(catalog).get("match_distance", limit))   # as `extend` would use it
    ruled_out = exclusions(catalog.conn)
    names = {r[0]: person_label(r) for r in catalog.conn.execute(
        "SELECT id, name FROM people WHERE id IN (%s)" % ",".join("?" * len(ids)), [int(i) for i in ids])}
    distances = 1.0 - np.stack([f["embedding"] for f in faces]) @ centroids.T
    for item, row in zip(faces, distances):
        for j in np.argsort(row):
            pid = int(ids[j])
            if pid == item.get("person_id") or (item["id"], pid) in ruled_out:
                continue
            if row[j] <= limit:
                item.update(suggested=pid, suggested_label=names.get(pid, f"person_{pid:03d}"),
                            distance=float(row[j]))
            break


def rank(catalog: Catalog, embedding: np.ndarray, n_people: int = 12, n_faces: int = 48,
         skip_face: int | None = None) -> tuple[list[dict], list[dict]]:
    """People by centroid similarity and faces by similarity to one embedding."""
    conn = catalog.conn
    embedding = np.asarray(embedding, np.float32)
    embedding = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
    people = []
    ids, centroids = person_centroids(catalog)
    if len(ids):
        sims = centroids @ embedding
        order = np.argsort(-sims)[:n_people]
        rows = {r["id"]: r for r in conn.execute(
            "SELECT id, name FROM people WHERE id IN (%s)" % ",".join("?" * len(order)),
            [int(ids[i]) for i in order])}
        for i in order:
            pid = int(ids[i])
            people.append({"id": pid, "label": person_label(rows[pid]), "similarity": float(sims[i]),
                           "cover": cover_face(conn, pid)})
    faces = []
    face_ids, matrix = catalog.face_embeddings()
    if len(face_ids):
        sims = matrix @ embedding
        order = [i for i in np.argsort(-sims)[: n_faces + 1] if int(face_ids[i]) != skip_face][:n_faces]
        info = {r["id"]: r for r in conn.execute(
            "SELECT f.id, f.person_id, p.name FROM faces f LEFT JOIN people p ON p.id = f.person_id "
            "WHERE f.id IN (%s)" % ",".join("?" * len(order)), [int(face_ids[i]) for i in order])}
        for i in order:
            fid = int(face_ids[i])
            row = info[fid]
            label = (row["name"] or f"person_{row['person_id']:03d}") if row["person_id"] else "unsorted"
            faces.append({"id": fid, "person_id": row["person_id"], "label": label,
                          "similarity": float(sims[i])})
    return people, faces
