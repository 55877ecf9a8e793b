"""People: rows whose numbers are never reused, and every change made to them.

Every stage (cluster, extend, refine, the web UI, curation, import) changes people only through
this repository, so user decisions are kept the same way everywhere:
- a face the user removed from a person is recorded in `face_exclusions` and never rejoins it;
- a face placed by the user or an import is never moved by clustering;
- a merged person keeps its row (`merged_into`, status 'merged') so its number is never reused;
- when people compete (a merge, a duplicate crop), `priority_key` decides, the same everywhere.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from facesets.catalog import centroids
from facesets.catalog._sql import chunks, marks
from facesets.catalog.types import (AssignedBy, Person, PersonCard, PersonFacts, PersonStats, PersonStatus,
                                   person_label, person_number)

_COLUMNS = ("id, name, pinned, imported, source, merged_into, status, parent_id, era, faceset, cluster_run, "
            "created_run")
_PEOPLE = f"SELECT {_COLUMNS}, 0 FROM people"
_WITH_COUNTS = (f"SELECT {', '.join('people.' + c.strip() for c in _COLUMNS.split(','))}, COUNT(faces.id) "
                "FROM people JOIN faces ON faces.person_id = people.id")
USER, IMPORT, CURATE = AssignedBy.USER, AssignedBy.IMPORT, AssignedBy.CURATE


def _person(row) -> Person:
    return Person(row[0], row[1], bool(row[2]), bool(row[3]), row[4], row[5], row[6], row[7], row[8],
                  bool(row[9]), row[10], row[11], int(row[12] or 0))


def priority_key(person: Person | dict) -> tuple:
    """Who wins when people compete (merge target, owner of a shared crop): user-named or
    pinned first, then the one with most faces, then the oldest number."""
    get = person.get if isinstance(person, dict) else lambda key: getattr(person, key)
    return (0 if (get("name") or get("pinned")) else 1, -int(get("n_faces") or 0), int(get("id")))


class PeopleRepo:
    def __init__(self, db):
        self._db = db

    # -- reading ---------------------------------------------------------------------------
    def get(self, person_id: int, with_count: bool = False) -> Person | None:
        if with_count:
            row = self._db._read(_WITH_COUNTS.replace(" JOIN ", " LEFT JOIN ") + " WHERE people.id = ? "
                                 "GROUP BY people.id", (int(person_id),)).fetchone()
        else:
            row = self._db._read(_PEOPLE + " WHERE id = ?", (int(person_id),)).fetchone()
        return _person(row) if row else None

    def all(self) -> list[Person]:
        """Every person row there ever was (merged ones too), by number."""
        return [_person(r) for r in self._db._read(_PEOPLE + " ORDER BY id")]

    def active(self, *, top_level_only: bool = False, status: PersonStatus | None = None) -> list[Person]:
        """People that hold faces now (not merged away), with their face counts, by number.
        `top_level_only`: no era sets; `status`: only people with that status."""
        where, params = ["people.merged_into IS NULL"], []
        if top_level_only:
            where.append("people.parent_id IS NULL")
        if status is not None:
            where.append("people.status = ?")
            params.append(str(status))
        return [_person(r) for r in self._db._read(
            _WITH_COUNTS + f" WHERE {' AND '.join(where)} GROUP BY people.id ORDER BY people.id", params)]

    def with_counts(self) -> dict[int, Person]:
        """Every person row with the faces it holds (0 for merged ones)."""
        return {p.id: p for p in (_person(r) for r in self._db._read(
            _WITH_COUNTS.replace(" JOIN ", " LEFT JOIN ") + " GROUP BY people.id ORDER BY people.id"))}

    def alive_ids(self) -> set[int]:
        return {r[0] for r in self._db._read("SELECT id FROM people WHERE merged_into IS NULL")}

    def count(self) -> int:
        return self._db._read("SELECT COUNT(*) FROM people").fetchone()[0]

    def facesets_count(self) -> int:
        return self._db._read("SELECT COUNT(*) FROM people WHERE faceset = 1 AND merged_into IS NULL").fetchone()[0]

    def eras_of(self, person_id: int) -> list[Person]:
        """A person's era sets that still stand, by number."""
        return [_person(r) for r in self._db._read(
            _PEOPLE + " WHERE parent_id = ? AND merged_into IS NULL ORDER BY id", (int(person_id),))]

    def imported_sources(self) -> list[tuple[int, str]]:
        """(id, source) of imported people, by number."""
        return [(r[0], r[1]) for r in self._db._read(
            "SELECT id, source FROM people WHERE imported = 1 AND source IS NOT NULL ORDER BY id")]

    def resolve(self, person_id: int) -> int:
        """Follow merges to the person that holds the faces now."""
        seen = set()
        while person_id not in seen:
            seen.add(person_id)
            row = self._db._read("SELECT merged_into FROM people WHERE id = ?", (person_id,)).fetchone()
            if not row or row[0] is None:
                return person_id
            person_id = row[0]
        return person_id

    def by_name(self, name: str) -> list[int]:
        """People (not merged away) called `name`, case-insensitively."""
        return [r[0] for r in self._db._read(
            "SELECT id FROM people WHERE name = ? COLLATE NOCASE AND merged_into IS NULL ORDER BY id", (name,))]

    def find(self, text: str) -> Person | None:
        """A person by number, name or label (person_012), followed through merges."""
        for person in self.all():
            if text in (str(person.id), person.name, person.label):
                return self.get(self.resolve(person.id))
        return None

    def exclusions(self) -> set[tuple[int, int]]:
        """Every (face, person) pair the user ruled out."""
        return {(int(f), int(p)) for f, p in self._db._read("SELECT face_id, person_id FROM face_exclusions")}

    def removed_count(self, person_id: int) -> int:
        return self._db._read("SELECT COUNT(*) FROM face_exclusions WHERE person_id = ?",
                              (int(person_id),)).fetchone()[0]

    def centroids(self, person_ids: Iterable[int] | None = None, gated: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(person ids, L2-normalised centroid matrix) of the people's faces, by person id.

        With `gated`, faces refine left out (faces.gate not NULL) are ignored, unless a person
        has nothing else. Read from the stored sums (catalog/centroids.py): one row per person,
        no face is read."""
        rows = list(centroids.stored(self._db, person_ids))
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, self._db.embedding_dim()), np.float32)
        matrix = np.empty((len(rows), len(rows[0][1].total)), np.float32)
        for i, (_, sums) in enumerate(rows):
            matrix[i] = sums.centroid(gated)
        return np.array([person for person, _ in rows], np.int64), matrix

    def snapshot(self, person_ids: Iterable[int]) -> list[dict]:
        """The rows of these people and of those merged into them, as they are now (for undo)."""
        ids = [int(p) for p in person_ids]
        if not ids:
            return []
        return [dict(r) for r in self._db._read(
            f"SELECT * FROM people WHERE id IN ({marks(len(ids))}) OR merged_into IN ({marks(len(ids))}) ORDER BY id",
            (*ids, *ids))]

    # -- changing ---------------------------------------------------------------------------
    def create(self, *, name: str | None = None, run_id: int | None = None, imported: bool = False,
               source: str | None = None, parent_id: int | None = None, era: str | None = None,
               pinned: bool = False, status: PersonStatus = PersonStatus.ACTIVE, faceset: bool = False) -> int:
        """A new person numbered after every person there ever was."""
        cur = self._db._write(
            "INSERT INTO people(name, pinned, imported, source, parent_id, era, created_run, status, faceset) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, int(pinned), int(imported), source, parent_id, era, run_id, str(status), int(faceset)))
        return int(cur.lastrowid)

    def assign(self, face_ids: Iterable[int], person_id: int | None, by: str, run_id: int | None = None) -> None:
        """Point faces at a person (None: unassigned). Clears refine's gate verdict."""
        self.place(((f, person_id) for f in face_ids), by, run_id)

    def remove_faces(self, face_ids: Iterable[int], person_id: int) -> None:
        """The user says these faces are not this person: unassign and remember it."""
        face_ids = [int(f) for f in face_ids]
        with self._db.transaction():
            self._db._write_many("INSERT OR IGNORE INTO face_exclusions(face_id, person_id) VALUES (?, ?)",
                                 [(f, person_id) for f in face_ids])
            centroids.change(self._db, {f: (None, False) for f in self._db.faces.held(person_id, face_ids)})
            self._db._write_many("UPDATE faces SET person_id = NULL, assigned_by = ?, gate = NULL "
                                 "WHERE id = ? AND person_id = ?", [(str(USER), f, person_id) for f in face_ids])

    def move_faces(self, face_ids: Iterable[int], to_person: int) -> None:
        """The user moves faces to another person: excluded from where they were, pinned where they go."""
        face_ids = [int(f) for f in face_ids]
        with self._db.transaction():
            for face_id in face_ids:
                row = self._db._read("SELECT person_id FROM faces WHERE id = ?", (face_id,)).fetchone()
                if row and row[0] is not None and row[0] != to_person:
                    self._db._write("INSERT OR IGNORE INTO face_exclusions(face_id, person_id) VALUES (?, ?)",
                                    (face_id, row[0]))
            for part in chunks(face_ids):
                self._db._write(f"DELETE FROM face_exclusions WHERE person_id = ? AND face_id IN ({marks(len(part))})",
                                (to_person, *part))
            self.assign(face_ids, to_person, USER)

    def split_faces(self, face_ids: Iterable[int], name: str | None = None) -> int:
        """The user splits faces off into a new person."""
        with self._db.transaction():
            person_id = self.create(name=name, pinned=True)
            self.move_faces(face_ids, person_id)
        return person_id

    def merge_winner(self, person_ids: Iterable[int]) -> Person:
        """The person a merge of these keeps (see `priority_key`)."""
        people = [p for p in (self.get(self.resolve(int(i)), with_count=True) for i in person_ids) if p]
        return min(people, key=priority_key)

    def merge(self, sources: Iterable[int], into: int, by: str = USER) -> None:
        """Fold people into one; the folded rows stay (status 'merged') so numbers are never
        reused. A name the user gave is kept: an unnamed target takes the one name among them."""
        sources = [int(s) for s in sources if int(s) != int(into)]
        with self._db.transaction():
            target = self.get(into)
            names = {p.name for p in (self.get(s) for s in sources) if p and p.name}
            for source in sources:
                centroids.transfer(self._db, source, into)
                self._db._write("UPDATE faces SET person_id = ?, assigned_by = CASE WHEN assigned_by IN (?, ?) "
                                "THEN assigned_by ELSE ? END WHERE person_id = ?",
                                (into, str(USER), str(IMPORT), str(by), source))
                self._db._write("UPDATE people SET merged_into = ?, status = 'merged' WHERE id = ?", (into, source))
                self._db._write("UPDATE people SET merged_into = ? WHERE merged_into = ?", (into, source))
            if target is not None and not target.name and len(names) == 1:
                self.rename(into, names.pop())

    def rename(self, person_id: int, name: str | None) -> None:
        """A user-named person is pinned: it stays primary in consolidation."""
        self._db._write("UPDATE people SET name = ?, pinned = CASE WHEN ? IS NULL THEN pinned ELSE 1 END "
                        "WHERE id = ?", (name or None, name or None, person_id))

    def set_status(self, person_id: int, status: PersonStatus, faceset: bool | None = None) -> None:
        if faceset is None:
            self._db._write("UPDATE people SET status = ? WHERE id = ?", (str(status), int(person_id)))
        else:
            self._db._write("UPDATE people SET status = ?, faceset = ? WHERE id = ?",
                            (str(status), int(faceset), int(person_id)))

    def set_facesets(self, person_ids: Iterable[int]) -> None:
        """refine's verdict: exactly these people are big enough to export."""
        with self._db.transaction():
            self._db._write("UPDATE people SET faceset = 0")
            self._db._write_many("UPDATE people SET faceset = 1 WHERE id = ?", [(int(p),) for p in person_ids])

    def set_cluster_run(self, person_id: int, run_id: int) -> None:
        self._db._write("UPDATE people SET cluster_run = ? WHERE id = ?", (run_id, int(person_id)))

    def restore(self, rows: Iterable[dict]) -> None:
        """Put back people rows a snapshot saved."""
        for person in rows:
            columns = [c for c in person if c != "id"]
            self._db._write(f"UPDATE people SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                            (*(person[c] for c in columns), person["id"]))

    def delete_created(self, person_ids: Iterable[int]) -> None:
        """People an undone operation created go (their numbers stay used); their faces are unassigned."""
        with self._db.transaction():
            for person in person_ids:
                centroids.drop(self._db, int(person))
                self._db._write("UPDATE faces SET person_id = NULL WHERE person_id = ?", (int(person),))
                self._db._write("DELETE FROM people WHERE id = ?", (int(person),))

    # -- web --
    GRID_SORTS = ("count", "count_asc", "number", "name", "quality", "recent")

    def grid(self, *, sort: str = "count", search: str = "", min_faces: int = 1, named: bool | None = None,
             status: str | None = None, limit: int = 60, offset: int = 0,
             hidden: bool | None = False) -> tuple[list[PersonCard], int]:
        """One page of the people grid, and how many people match in all: people not merged
        away holding at least `min_faces` faces, with their mean quality and cover face.
        `sort`: one of GRID_SORTS (else "count"); `search`: a number (12, #12, person_012) or
        part of a name; `named`: only named (True) or only unnamed (False) people; `hidden`:
        only people not hidden (False, the default), only hidden ones (True), or both (None)."""
        where, params = ["people.merged_into IS NULL"], []
        if hidden is not None:
            where.append(f"people.id {'' if hidden else 'NOT '}IN (SELECT person_id FROM person_facts WHERE hidden = 1)")
        search = (search or "").strip()
        number = person_number(search) if search else None
        if number is not None:
            where.append("(people.id = ? OR people.name LIKE ?)")
            params += [number, f"%{search}%"]
        elif search:
            where.append("people.name LIKE ?")
            params.append(f"%{search}%")
        if named is not None:
            where.append("people.name IS NOT NULL" if named else "people.name IS NULL")
        if status:
            where.append("people.status = ?")
            params.append(str(status))
        params.append(max(1, int(min_faces)))
        matching = (f"FROM people JOIN faces ON faces.person_id = people.id WHERE {' AND '.join(where)} "
                    "GROUP BY people.id HAVING COUNT(faces.id) >= ?")
        # one pass: the window count gives the number of matching people with the page (the
        # sorter carries ids and counts only; the page's rows are read after)
        page = self._db._read(
            f"SELECT people.id, COUNT(faces.id) AS n_faces, AVG(faces.quality) AS quality, COUNT(*) OVER () "
            f"{matching} ORDER BY {_GRID_ORDER.get(sort, _GRID_ORDER['count'])} LIMIT ? OFFSET ?",
            (*params, int(limit), max(0, int(offset)))).fetchall()
        if not page:
            return [], self._db._read(f"SELECT COUNT(*) FROM (SELECT people.id {matching})", params).fetchone()[0]
        ids = [r[0] for r in page]
        people = {}
        for part in chunks(ids):
            people.update((r[0], _person(r)) for r in self._db._read(_PEOPLE + f" WHERE id IN ({marks(len(part))})", part))
        covers = self._db.faces.best_faces(ids)
        return [PersonCard(**{**vars(people[pid]), "n_faces": n}, quality=quality, cover=covers.get(pid))
                for pid, n, quality, _ in page], page[0][3]

    def stats(self, person_id: int) -> PersonStats | None:
        """A person with its faces' count and mean quality, its photos' first and last dates,
        and how many of its faces refine kept in its faceset; None when there is no such person."""
        row = self._db._read(
            f"SELECT {_PEOPLE_COLUMNS}, COUNT(faces.id), AVG(faces.quality), MIN(files.taken_at), "
            "MAX(files.taken_at), COUNT(faces.id) - COUNT(faces.gate) FROM people "
            "LEFT JOIN faces ON faces.person_id = people.id LEFT JOIN files ON files.id = faces.file_id "
            "WHERE people.id = ? GROUP BY people.id", (int(person_id),)).fetchone()
        if row is None:
            return None
        return PersonStats(**vars(_person(row)), quality=row[13], first_date=row[14], last_date=row[15],
                           n_in_faceset=int(row[16] or 0))

    def move_targets(self, limit: int = 300) -> list[Person]:
        """People offered as a move or merge target: holding faces, named ones first, then the
        biggest."""
        return [_person(r) for r in self._db._read(
            _WITH_COUNTS + " WHERE people.merged_into IS NULL GROUP BY people.id "
            "ORDER BY people.name IS NULL, COUNT(faces.id) DESC, people.id LIMIT ?", (int(limit),))]

    def labels(self, person_ids: Iterable[int]) -> dict[int, str]:
        """Person id -> label (its name, else person_NNN), for those of these people that exist."""
        found = {}
        for part in chunks(person_ids):
            found.update((r[0], person_label(r[0], r[1])) for r in self._db._read(
                f"SELECT id, name FROM people WHERE id IN ({marks(len(part))})", part))
        return found

    # -- review --
    # stages that place faces in people: one starting (or a curation applied or undone) makes
    # what the review queue proposed stale
    PLACING_STAGES = ("cluster", "refine", "extend", "import", "embed")   # embed: XMP-named faces seed people

    def generation(self) -> str:
        """A value that changes whenever a stage that places faces starts or a curation is
        applied or undone: what the review queue built before it is stale."""
        row = self._db._read(
            f"SELECT (SELECT MAX(id) FROM runs WHERE command IN ({marks(len(self.PLACING_STAGES))})), "
            "(SELECT COUNT(applied_at) + COUNT(undone_at) FROM operations)", self.PLACING_STAGES).fetchone()
        return f"{row[0] or 0}.{row[1] or 0}"

    def hidden_ids(self) -> set[int]:
        """People the user hid."""
        return {r[0] for r in self._db._read("SELECT person_id FROM person_facts WHERE hidden = 1")}

    def set_hidden(self, person_ids: Iterable[int], hidden: bool = True) -> None:
        """Hide people (out of the grid, the review queue, exports and XMP tags) or show them
        again. Not a curation status: curation and its undo never change it."""
        self._db._write_many("INSERT INTO person_facts(person_id, hidden) VALUES (?, ?) "
                             "ON CONFLICT(person_id) DO UPDATE SET hidden = excluded.hidden",
                             [(int(p), int(hidden)) for p in person_ids])

    def strangers(self, max_faces: int) -> list[int]:
        """Unnamed people shown now (not merged away, not hidden) holding at most `max_faces`
        faces (and at least one), by number."""
        return [r[0] for r in self._db._read(
            "SELECT people.id FROM people JOIN faces ON faces.person_id = people.id "
            "WHERE people.merged_into IS NULL AND people.name IS NULL "
            "AND people.id NOT IN (SELECT person_id FROM person_facts WHERE hidden = 1) "
            "GROUP BY people.id HAVING COUNT(faces.id) <= ? ORDER BY people.id", (int(max_faces),))]

    def facts(self, person_id: int) -> PersonFacts:
        """What the user said about a person outside curation: hidden, birth date."""
        row = self._db._read("SELECT hidden, birth_date FROM person_facts WHERE person_id = ?",
                             (int(person_id),)).fetchone()
        return PersonFacts(bool(row[0]), row[1]) if row else PersonFacts()

    def set_birth_date(self, person_id: int, birth_date: str | None) -> None:
        """A person's birth date (YYYY-MM-DD), or None to forget it."""
        self._db._write("INSERT INTO person_facts(person_id, birth_date) VALUES (?, ?) "
                        "ON CONFLICT(person_id) DO UPDATE SET birth_date = excluded.birth_date",
                        (int(person_id), birth_date or None))

    def keep_apart(self, a: int, b: int, apart: bool = True) -> None:
        """The user says two people are not one (`apart`), or takes that back."""
        pair = (min(int(a), int(b)), max(int(a), int(b)))
        if apart:
            self._db._write("INSERT OR IGNORE INTO people_apart(a, b) VALUES (?, ?)", pair)
        else:
            self._db._write("DELETE FROM people_apart WHERE a = ? AND b = ?", pair)

    def apart_pairs(self) -> set[tuple[int, int]]:
        """Every (a, b), a < b, of people the user kept apart, followed through merges to the
        people holding their faces now."""
        pairs = set()
        for a, b in self._db._read("SELECT a, b FROM people_apart").fetchall():
            a, b = self.resolve(a), self.resolve(b)
            if a != b:
                pairs.add((min(a, b), max(a, b)))
        return pairs

    # -- scale --
    def place(self, placements: Iterable[tuple[int, int | None]], by: str, run_id: int | None = None) -> None:
        """Point each face at its person (None: unassigned), (face id, person) pairs: a whole
        clustering is written in one pass. Clears refine's gate verdicts."""
        placements = [(int(f), None if p is None else int(p)) for f, p in placements]
        with self._db.transaction():
            centroids.change(self._db, {f: (p, False) for f, p in placements})
            self._db._write_many(
                "UPDATE faces SET person_id = ?, assigned_by = ?, clustered_run = ?, gate = NULL WHERE id = ?",
                [(p, str(by) if p is not None else None, run_id, f) for f, p in placements])

    def exclusions_of(self, face_ids: Iterable[int]) -> set[tuple[int, int]]:
        """The (face, person) pairs the user ruled out, for these faces only."""
        found = set()
        for part in chunks(face_ids):
            found |= {(int(f), int(p)) for f, p in self._db._read(
                f"SELECT face_id, person_id FROM face_exclusions WHERE face_id IN ({marks(len(part))})", part)}
        return found

    def restore_exclusions(self, face_ids: Iterable[int], pairs: Iterable[tuple[int, int]]) -> None:
        """These faces' exclusions become exactly `pairs` again (undo of a review decision)."""
        for part in chunks(face_ids):
            self._db._write(f"DELETE FROM face_exclusions WHERE face_id IN ({marks(len(part))})", part)
        self._db._write_many("INSERT OR IGNORE INTO face_exclusions(face_id, person_id) VALUES (?, ?)",
                             [(int(f), int(p)) for f, p in pairs])


_PEOPLE_COLUMNS = ", ".join(f"people.{c.strip()}" for c in _COLUMNS.split(","))
_GRID_ORDER = {   # GRID_SORTS: the grid's orders, every one ending on the unique person number
    "count": "n_faces DESC, people.id",
    "count_asc": "n_faces ASC, people.id",
    "number": "people.id",
    "name": "people.name IS NULL, people.name COLLATE NOCASE, people.id",
    "quality": "quality IS NULL, quality DESC, people.id",
    "recent": "people.id DESC",
}
