"""Person centroids kept up to date as faces join and leave people: per person, how many faces
it holds and the sum of their embeddings, and the same for the faces refine left out of its
faceset (`faces.gate` set). `extend` and the pages read one row per person instead of every
assigned face.

Sums are integers: each embedding in fixed point (units of 2**-32, far finer than float32's
precision), so any sequence of updates equals a recomputation from the faces bit for bit. A
stale row is therefore told exactly (`stale`), and a resumed run leaves the same catalog as a
clean one. A face whose embedding is not the catalog's length, or not finite, counts nowhere
(the doctor reports those faces on their own).

Callers are the repositories of this package: they call `change` (or `transfer`, `drop`) in the
transaction that moves faces, before the faces are written.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import numpy as np

from facesets.catalog._sql import chunks, marks

SCALE = 2.0 ** 32
STALE_MARK = "centroids_stale"   # meta key the migration sets: compute every centroid once


@dataclass
class Sums:
    """One person's row: faces and their sum, and those of them refine left out."""
    n: int
    total: np.ndarray                 # int64 (dim,)
    n_out: int = 0
    out_total: np.ndarray | None = None

    def add(self, other: "Sums", sign: int = 1) -> None:
        self.n += sign * other.n
        self.total = self.total + sign * other.total
        self.n_out += sign * other.n_out
        if other.out_total is not None:
            self.out_total = self.outs() + sign * other.out_total

    def outs(self) -> np.ndarray:
        return self.out_total if self.out_total is not None else np.zeros_like(self.total)

    def same(self, other: "Sums") -> bool:
        return (self.n == other.n and self.n_out == other.n_out and np.array_equal(self.total, other.total)
                and np.array_equal(self.outs(), other.outs()))

    def centroid(self, gated: bool) -> np.ndarray:
        """The unit-length mean direction; `gated`: of the faces refine kept, unless it kept none."""
        vector = self.total - self.outs() if gated and 0 < self.n_out < self.n else self.total
        vector = vector.astype(np.float64)
        return vector / max(float(np.linalg.norm(vector)), 1e-12 * SCALE)


def fixed(blobs: list[bytes | None], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(usable mask, int64 (usable, dim) fixed-point rows) of embedding blobs."""
    usable = np.array([b is not None and len(b) == 4 * dim for b in blobs], bool)
    if not usable.any() or dim == 0:
        return np.zeros(len(blobs), bool), np.zeros((0, dim), np.int64)
    X = np.frombuffer(b"".join(b for b, ok in zip(blobs, usable) if ok), np.float32).reshape(-1, dim)
    finite = np.isfinite(X).all(axis=1)
    usable[usable] = finite
    return usable, np.rint(X[finite].astype(np.float64) * SCALE).astype(np.int64)


def _grouped(people: np.ndarray, out: np.ndarray, rows: np.ndarray) -> Iterator[tuple[int, Sums]]:
    """Each person's sums over the given faces (integer sums: exact in any order)."""
    if not len(people):
        return
    order = np.argsort(people, kind="stable")
    people, out, rows = people[order], out[order], rows[order]
    starts = np.flatnonzero(np.r_[True, people[1:] != people[:-1]])
    totals = np.add.reduceat(rows, starts, axis=0)
    out_totals = np.add.reduceat(rows * out[:, None], starts, axis=0)
    counts = np.diff(np.r_[starts, len(people)])
    n_outs = np.add.reduceat(out.astype(np.int64), starts)
    for i, start in enumerate(starts):
        yield int(people[start]), Sums(int(counts[i]), totals[i], int(n_outs[i]), out_totals[i])


class _Delta:
    """Per-person changes accumulated from faces leaving and joining."""

    def __init__(self, dim: int):
        self.dim = dim
        self.people: dict[int, Sums] = {}

    def add(self, people: np.ndarray, out: np.ndarray, rows: np.ndarray, sign: int) -> None:
        for person, sums in _grouped(people, out, rows):
            self.people.setdefault(person, Sums(0, np.zeros(self.dim, np.int64))).add(sums, sign)


SAME = ...   # a target that keeps the face's person (only refine's verdict changes)


def change(db, targets: Mapping[int, tuple[int | None, bool]]) -> None:
    """Faces are about to move: face id -> (person after, or SAME; left out by refine after).
    Reads the faces whose place changes (their embeddings only) and updates the rows of the
    people they leave and join. Call it in the transaction that writes the faces, before."""
    dim = db.embedding_dim()
    delta = _Delta(dim)
    for part in chunks(targets):
        moving = []   # (face, person before, out before, person after, out after)
        for face, person, out in db._read(
                f"SELECT id, person_id, gate IS NOT NULL FROM faces WHERE id IN ({marks(len(part))})", part):
            after, out_after = targets[face]
            after = person if after is SAME else after
            before, after_ = (person, bool(out) and person is not None), (after, bool(out_after) and after is not None)
            if before != after_:
                moving.append((face, *before, *after_))
        if not moving:
            continue
        blobs = dict(db._read(f"SELECT id, embedding FROM faces WHERE id IN ({marks(len(moving))})",
                              [m[0] for m in moving]).fetchall())
        usable, rows = fixed([blobs[m[0]] for m in moving], dim)
        moving = [m for m, ok in zip(moving, usable) if ok]
        for sign, who, out in ((-1, 1, 2), (1, 3, 4)):
            held = np.array([m[who] is not None for m in moving], bool)
            delta.add(np.array([m[who] or 0 for m in moving], np.int64)[held],
                      np.array([m[out] for m in moving], bool)[held], rows[held], sign)
    _apply(db, delta)


def _apply(db, delta: _Delta) -> None:
    stored = read(db, delta.people)
    known = {r[0] for part in chunks(delta.people) for r in
             db._read(f"SELECT id FROM people WHERE id IN ({marks(len(part))})", part)}
    for person, change_ in delta.people.items():
        if person not in known:   # a person with no row (damage the doctor repairs) keeps no sums
            continue
        sums = stored.get(person, Sums(0, np.zeros(delta.dim, np.int64)))
        sums.add(change_)
        write(db, person, sums)


def transfer(db, source: int, into: int) -> None:
    """Every face of `source` now belongs to `into` (a merge): rows add, no face is read."""
    rows = read(db, [source, into])
    if source not in rows:
        return
    target = rows.get(into, Sums(0, np.zeros_like(rows[source].total)))
    target.add(rows[source])
    write(db, into, target)
    write(db, source, None)


def drop(db, person: int) -> None:
    """The person holds no face any more."""
    write(db, person, None)


def write(db, person: int, sums: Sums | None) -> None:
    if sums is None or sums.n == 0:
        db._write("DELETE FROM person_centroids WHERE person_id = ?", (int(person),))
        return
    db._write("INSERT OR REPLACE INTO person_centroids(person_id, n, total, n_out, out_total) VALUES (?, ?, ?, ?, ?)",
              (int(person), int(sums.n), sums.total.astype(np.int64).tobytes(), int(sums.n_out),
               sums.out_total.astype(np.int64).tobytes() if sums.n_out else None))


def read(db, person_ids: Iterable[int] | None = None) -> dict[int, Sums]:
    """Stored rows of these people (None: of everyone), by person id."""
    return dict(stored(db, person_ids))


def stored(db, person_ids: Iterable[int] | None = None) -> Iterator[tuple[int, Sums]]:
    sql = "SELECT person_id, n, total, n_out, out_total FROM person_centroids"
    parts = [None] if person_ids is None else list(chunks(person_ids))
    for part in parts:
        where = "" if part is None else f" WHERE person_id IN ({marks(len(part))})"
        for person, n, total, n_out, out_total in db._read(sql + where + " ORDER BY person_id", part or ()):
            yield person, Sums(n, np.frombuffer(total, np.int64).copy(), n_out,
                               None if out_total is None else np.frombuffer(out_total, np.int64).copy())


def recomputed(db, person_ids: Iterable[int] | None = None, batch: int = 4096) -> Iterator[tuple[int, Sums]]:
    """Each person's sums computed from its faces, by person id (one pass, a batch of faces in
    memory at a time)."""
    dim = db.embedding_dim()
    parts = [None] if person_ids is None else list(chunks(person_ids))
    for part in parts:
        # faces of a person with no row (damage the doctor repairs) count nowhere: their sums
        # could not be stored (the foreign key), and the migration must not fail on them
        where = ("person_id IN (SELECT id FROM people)" if part is None
                 else f"person_id IN ({marks(len(part))}) AND person_id IN (SELECT id FROM people)")
        cursor = db._read(f"SELECT person_id, gate IS NOT NULL, embedding FROM faces WHERE {where} "
                          "ORDER BY person_id", part or ())
        current, sums = None, None
        while rows := cursor.fetchmany(batch):
            usable, X = fixed([r[2] for r in rows], dim)
            people = np.array([r[0] for r in rows], np.int64)[usable]
            out = np.array([bool(r[1]) for r in rows], bool)[usable]
            for person, part_sums in _grouped(people, out, X):   # by person, as the rows come
                if person != current:
                    if current is not None:
                        yield current, sums
                    current, sums = person, Sums(0, np.zeros(dim, np.int64))
                sums.add(part_sums)
        if current is not None:
            yield current, sums


def stale(db) -> list[int]:
    """People whose stored row differs from a recomputation (a row for nobody's faces, a
    missing row, other counts or sums), by person id."""
    found = []
    kept = dict(stored(db))
    for person, sums in recomputed(db):
        row = kept.pop(person, None)
        if row is None or not row.same(sums):
            found.append(person)
    return sorted(found + list(kept))


def recompute(db, person_ids: Iterable[int] | None = None) -> int:
    """Rewrite the rows of these people (None: everyone's) from their faces; returns how many
    people hold faces among them."""
    with db.transaction():
        if person_ids is None:
            db._write("DELETE FROM person_centroids")
        else:
            person_ids = [int(p) for p in person_ids]
            for part in chunks(person_ids):
                db._write(f"DELETE FROM person_centroids WHERE person_id IN ({marks(len(part))})", part)
        count = 0
        for person, sums in recomputed(db, person_ids):
            write(db, person, sums)
            count += 1
    return count
