"""Faces: boxes and landmarks in original pixels, embeddings, refine's and enrich's verdicts.

Embeddings are read into one preallocated float32 matrix (no list of rows, no joined copy),
and a read for a subset of faces selects only that subset.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from facesets.catalog import centroids
from facesets.catalog._sql import chunks, fill_matrix, from_blob, marks, to_blob
from facesets.catalog.types import (
    KEPT_ASSIGNMENTS, BulkPhotos, ClusterInput, Face, FaceCard, FaceDetail, NewFace, PersonRegion, VideoFrame,
)

QUALITY_COMPONENTS = ("q_frontal", "q_det", "q_symmetry", "q_size", "q_sharp")
# a face's rank within its person: best first (quality when enrich ran, else size and score)
BEST_FIRST = "f.quality IS NULL, f.quality DESC, f.short_edge * f.det_score DESC, f.id"
ASSIGNMENT_COLUMNS = ("person_id", "assigned_by", "clustered_run", "gate")
# Two faces of one photo are different people (cannot-link); in a video the photo is the frame:
# its key is minus the frame's id, so it never equals a photo's (positive) id.
CANNOT_LINK_KEY = "CASE WHEN f.frame_id IS NULL THEN f.file_id ELSE -f.frame_id END"


@dataclass(frozen=True)
class FaceFilter:
    """Which faces a read covers, as Python values (the repository writes the SQL).

    people: faces of these people (None: no restriction by person); unassigned: faces of no
    person (alone, or in addition to `people`); new_only: faces no clustering has seen yet;
    excluding_removed_from: leave out faces the user removed from that person; files: faces
    of these photos only."""
    people: tuple[int, ...] | None = None
    unassigned: bool = False
    new_only: bool = False
    excluding_removed_from: int | None = None
    files: tuple[int, ...] | None = None

    def sql(self) -> tuple[str, list]:
        where, params = [], []
        who = []
        if self.people is not None:
            who.append(f"f.person_id IN ({marks(len(self.people))})" if self.people else "0")
            params += [int(p) for p in self.people]
        if self.unassigned:
            who.append("f.person_id IS NULL")
        if who:
            where.append("(" + " OR ".join(who) + ")")
        if self.new_only:
            where.append("f.clustered_run IS NULL")
        if self.files is not None:
            where.append(f"f.file_id IN ({marks(len(self.files))})" if self.files else "0")
            params += [int(f) for f in self.files]
        if self.excluding_removed_from is not None:
            where.append("f.id NOT IN (SELECT face_id FROM face_exclusions WHERE person_id = ?)")
            params.append(int(self.excluding_removed_from))
        return (" WHERE " + " AND ".join(where)) if where else "", params


@dataclass(frozen=True)
class QualityInput:
    """What the composite quality of one face is computed from."""
    id: int
    landmarks: np.ndarray | None
    landmarks_dense: np.ndarray | None
    pitch: float | None
    yaw: float | None
    det_score: float
    short_edge: float
    sharpness: float | None
    detector: str
    landmark_scheme: str


@dataclass(frozen=True)
class FaceBox:
    """A face's box and its photo: what enrich and the thumbnails cut from."""
    id: int
    file_id: int
    box: tuple[float, float, float, float]
    short_edge: float
    path: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class GateInput:
    ids: np.ndarray
    people: np.ndarray
    short_edge: np.ndarray
    sharpness: np.ndarray      # NaN where unknown
    det_score: np.ndarray
    X: np.ndarray


_DETAIL = ("SELECT f.id, f.file_id, f.person_id, fl.path, fl.sha256, fl.taken_at, f.x1, f.y1, f.x2, f.y2, "
           "f.det_score, f.short_edge, f.quality, " + ", ".join(f"f.{c}" for c in QUALITY_COMPONENTS)
           + ", f.embedding FROM faces f JOIN files fl ON fl.id = f.file_id")


def _detail(row) -> FaceDetail:
    return FaceDetail(row[0], row[1], row[2], row[3], row[4], row[5], (row[6], row[7], row[8], row[9]),
                      row[10], row[11], row[12], dict(zip(QUALITY_COMPONENTS, row[13:18])), from_blob(row[18]))


class FacesRepo:
    def __init__(self, db):
        self._db = db

    # -- embed ---------------------------------------------------------------------------
    def replace_unassigned(self, file_id: int, faces: list[NewFace], *, model_id: int, input_mode: str,
                           run_id: int | None) -> None:
        """A file's faces as just detected. Faces nobody placed go first; a new face at the
        index of a placed one replaces that row (INSERT OR REPLACE, as embed always did)."""
        with self._db.transaction():
            replaced = [r[0] for r in self._db._read(
                "SELECT id FROM faces WHERE file_id = ? AND face_index < ? AND person_id IS NOT NULL",
                (file_id, len(faces)))]
            if replaced:   # a placed face replaced leaves its person
                centroids.change(self._db, {f: (None, False) for f in replaced})
            self._db._write("DELETE FROM faces WHERE file_id = ? AND person_id IS NULL", (file_id,))
            self._db._write_many(
                "INSERT OR REPLACE INTO faces(file_id, face_index, x1, y1, x2, y2, landmarks, det_score, "
                "short_edge, sharpness, embedding, model_id, input_mode, created_run) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(file_id, index, *(float(v) for v in face.box),
                  to_blob(face.landmarks) if face.landmarks is not None else None, float(face.score),
                  float(face.short_edge), face.sharpness, to_blob(face.embedding), model_id, input_mode, run_id)
                 for index, face in enumerate(faces)])

    # -- reading -------------------------------------------------------------------------------
    def all(self, where: FaceFilter = FaceFilter()) -> list[Face]:
        """The faces `where` selects, whole, by id (with their photo's first location)."""
        sql, params = where.sql()
        return [Face(r[0], r[1], r[2], r[3], (r[4], r[5], r[6], r[7]), from_blob(r[8], (-1, 2)), r[9], r[10], r[11],
                     from_blob(r[12]), r[13], r[14], r[15], r[16], r[17], dict(zip(QUALITY_COMPONENTS, r[18:23])),
                     (r[23], r[24], r[25]), from_blob(r[26], (-1, 2)), r[27], json.loads(r[28]) if r[28] else None,
                     r[29])
                for r in self._db._read(
                    "SELECT f.id, f.file_id, fl.path, f.face_index, f.x1, f.y1, f.x2, f.y2, f.landmarks, f.det_score, "
                    "f.short_edge, f.sharpness, f.embedding, f.person_id, f.assigned_by, f.gate, f.input_mode, "
                    f"f.quality, {', '.join('f.' + c for c in QUALITY_COMPONENTS)}, f.pitch, f.yaw, f.roll, "
                    f"f.landmarks_dense, f.enriched_run, f.origin, f.clustered_run FROM faces f JOIN files fl ON fl.id = f.file_id{sql} "
                    "ORDER BY f.id", params)]

    # -- embeddings -------------------------------------------------------------------------
    def count(self, where: FaceFilter = FaceFilter()) -> int:
        sql, params = where.sql()
        return self._db._read(f"SELECT COUNT(*) FROM faces f{sql}", params).fetchone()[0]

    def embeddings(self, where: FaceFilter = FaceFilter()) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, float32 (n, dim) matrix) of the faces `where` selects, by id."""
        columns, matrix = self._load("f.id", where)
        return columns[:, 0].copy() if len(columns) else np.zeros(0, np.int64), matrix

    def cluster_input(self, where: FaceFilter = FaceFilter()) -> ClusterInput:
        """Ids, embeddings, photos, current people (-1: none) and kept flags (placed by a
        user or an import) of the faces `where` selects. A face seen in a video has its frame as
        its photo (minus the frame's id, see CANNOT_LINK_KEY)."""
        kept = ",".join(f"'{k}'" for k in KEPT_ASSIGNMENTS)
        columns, matrix = self._load(
            f"f.id, {CANNOT_LINK_KEY}, f.person_id, (f.assigned_by IN ({kept}) AND f.person_id IS NOT NULL)", where)
        if not len(columns):
            columns = np.zeros((0, 4), np.int64)
        return ClusterInput(columns[:, 0].copy(), matrix, columns[:, 1].copy(), columns[:, 2].copy(),
                            columns[:, 3] == 1)

    def _load(self, select: str, where: FaceFilter) -> tuple[np.ndarray, np.ndarray]:
        sql, params = where.sql()
        n = self._db._read(f"SELECT COUNT(*) FROM faces f{sql}", params).fetchone()[0]
        rows = self._db._read(f"SELECT {select}, f.embedding FROM faces f{sql} ORDER BY f.id", params)
        return fill_matrix(rows, n, self._db.embedding_dim())

    # -- refine's gate ----------------------------------------------------------------------
    def gate_input(self) -> GateInput:
        """Every assigned face with what refine's quality gate and outlier cut look at."""
        n = self._db._read("SELECT COUNT(*) FROM faces WHERE person_id IS NOT NULL").fetchone()[0]
        rows = self._db._read(
            "SELECT id, person_id, short_edge, sharpness, det_score, embedding FROM faces "
            "WHERE person_id IS NOT NULL ORDER BY person_id, id")
        ids = np.empty(n, np.int64)
        people = np.empty(n, np.int64)
        values = np.empty((n, 3), np.float64)
        matrix = np.empty((n, self._db.embedding_dim()), np.float32)
        count = 0
        for row in rows:
            if count == n:
                break
            ids[count], people[count] = row[0], row[1]
            values[count] = (row[2], np.nan if row[3] is None else row[3], row[4])
            matrix[count] = np.frombuffer(row[5], np.float32)
            count += 1
        return GateInput(ids[:count], people[:count], values[:count, 0], values[:count, 1], values[:count, 2],
                         matrix[:count])

    def set_gates(self, verdicts: dict[int, str | None]) -> None:
        """refine's verdict per face: None (in its person's faceset) or why it is left out."""
        with self._db.transaction():
            centroids.change(self._db, {int(f): (centroids.SAME, v is not None) for f, v in verdicts.items()})
            self._db._write_many("UPDATE faces SET gate = ? WHERE id = ?", [(v, int(f)) for f, v in verdicts.items()])

    # -- people and photos --------------------------------------------------------------------
    def person_in_photo(self, file_id: int, person_id: int) -> bool:
        """Whether a face of this photo already belongs to `person_id` (cannot-link). `file_id`
        is a photo's id or a key `cluster_input` gave (minus a video frame's id: that frame)."""
        if int(file_id) < 0:
            return self._db._read("SELECT 1 FROM faces WHERE frame_id = ? AND person_id = ? LIMIT 1",
                                  (-int(file_id), int(person_id))).fetchone() is not None
        return self._db._read("SELECT 1 FROM faces WHERE file_id = ? AND person_id = ? LIMIT 1",
                              (int(file_id), int(person_id))).fetchone() is not None

    def person_photos(self, in_faceset_only: bool = False) -> list[tuple[int, int]]:
        """(person id, photo id) of every assigned face (`in_faceset_only`: refine kept it)."""
        extra = " AND gate IS NULL" if in_faceset_only else ""
        return [(r[0], r[1]) for r in self._db._read(
            f"SELECT person_id, file_id FROM faces WHERE person_id IS NOT NULL{extra} ORDER BY id")]

    def set_clustered_run(self, face_ids: Iterable[int], run_id: int) -> None:
        self._db._write_many("UPDATE faces SET clustered_run = ? WHERE id = ?", [(run_id, int(f)) for f in face_ids])

    def ids_of_person(self, person_id: int) -> list[int]:
        return [r[0] for r in self._db._read("SELECT id FROM faces WHERE person_id = ? ORDER BY id", (person_id,))]

    def held(self, person_id: int, face_ids: Iterable[int]) -> list[int]:
        """Those of `face_ids` that `person_id` holds now, in the order given."""
        face_ids = [int(f) for f in face_ids]
        held = set()
        for part in chunks(face_ids):
            held |= {r[0] for r in self._db._read(
                f"SELECT id FROM faces WHERE person_id = ? AND id IN ({marks(len(part))})", (person_id, *part))}
        return [f for f in face_ids if f in held]

    def exists(self, face_id: int) -> bool:
        return self._db._read("SELECT 1 FROM faces WHERE id = ?", (int(face_id),)).fetchone() is not None

    def person_of(self, face_id: int) -> int | None:
        row = self._db._read("SELECT person_id FROM faces WHERE id = ?", (int(face_id),)).fetchone()
        return row[0] if row else None

    def first_of_file(self, file_id: int) -> tuple[int, int | None, str | None] | None:
        """(face id, person id, assigned by) of a file's first face (crops: its only one)."""
        row = self._db._read("SELECT id, person_id, assigned_by FROM faces WHERE file_id = ? "
                             "ORDER BY face_index LIMIT 1", (file_id,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def set_origin(self, face_id: int, origin: dict) -> None:
        """Where an imported crop's face came from (its original photo and box)."""
        self._db._write("UPDATE faces SET origin = ? WHERE id = ?",
                        (json.dumps(origin, sort_keys=True, default=str), int(face_id)))

    def positions(self) -> list[tuple[int, int, str, int, int, float, float]]:
        """(face id, photo id, photo path, photo width, height, box centre x, y) of every face."""
        return [tuple(r) for r in self._db._read(
            "SELECT faces.id, faces.file_id, files.path, files.width, files.height, "
            "(faces.x1 + faces.x2) / 2, (faces.y1 + faces.y2) / 2 "
            "FROM faces JOIN files ON files.id = faces.file_id ORDER BY faces.id")]

    def file_of(self) -> dict[int, int]:
        """Face id -> photo id, for every face."""
        return dict(self._db._read("SELECT id, file_id FROM faces").fetchall())

    def of_file(self, file_id: int) -> list[tuple[int, tuple[float, float, float, float], np.ndarray]]:
        """(face id, box, embedding) of a photo's faces, in detection order."""
        return [(r[0], (r[1], r[2], r[3], r[4]), from_blob(r[5])) for r in self._db._read(
            "SELECT id, x1, y1, x2, y2, embedding FROM faces WHERE file_id = ? ORDER BY face_index", (file_id,))]

    def box(self, face_id: int) -> FaceBox | None:
        row = self._db._read(
            "SELECT f.id, f.file_id, f.x1, f.y1, f.x2, f.y2, f.short_edge, fl.path, fl.width, fl.height "
            "FROM faces f JOIN files fl ON fl.id = f.file_id WHERE f.id = ?", (int(face_id),)).fetchone()
        return _box(row) if row else None

    def best_photo(self, person_id: int) -> str | None:
        """The photo of a person's best face (quality, then detector score)."""
        row = self._db._read("SELECT files.path FROM faces JOIN files ON files.id = faces.file_id "
                             "WHERE faces.person_id = ? ORDER BY faces.quality DESC, faces.det_score DESC LIMIT 1",
                             (person_id,)).fetchone()
        return row[0] if row else None

    def best_face(self, person_id: int) -> int | None:
        """The person's best face: the one shown on the grid."""
        row = self._db._read(f"SELECT f.id FROM faces f WHERE f.person_id = ? ORDER BY {BEST_FIRST} LIMIT 1",
                             (person_id,)).fetchone()
        return row[0] if row else None

    def taken_at_of_person(self, person_id: int) -> list[str | None]:
        return [r[0] for r in self._db._read(
            "SELECT files.taken_at FROM faces JOIN files ON files.id = faces.file_id WHERE faces.person_id = ?",
            (person_id,))]

    def details(self, face_ids: Iterable[int]) -> dict[int, FaceDetail]:
        """Face id -> what passes and pages look at (photo, quality, person, embedding)."""
        found: dict[int, FaceDetail] = {}
        for part in chunks(face_ids):
            for row in self._db._read(_DETAIL + f" WHERE f.id IN ({marks(len(part))})", part):
                found[int(row[0])] = _detail(row)
        return found

    def faceset_picks(self, person_id: int) -> list[FaceDetail]:
        """A person's faces that refine kept, on embedded photos, by id."""
        return [_detail(r) for r in self._db._read(
            _DETAIL + " WHERE f.person_id = ? AND f.gate IS NULL AND fl.status = 'done' ORDER BY f.id", (person_id,))]

    def candidates(self, min_quality: float) -> list[FaceDetail]:
        """Unassigned faces alone on their embedded photo, at least `min_quality` good."""
        return [_detail(r) for r in self._db._read(
            _DETAIL + " WHERE f.person_id IS NULL AND fl.n_faces = 1 AND fl.status = 'done' "
            "AND COALESCE(f.quality, 0) >= ? ORDER BY f.id", (min_quality,))]

    # -- enrich and quality ---------------------------------------------------------------------
    def to_enrich(self, only_people: bool = True) -> list[FaceBox]:
        """Faces not yet enriched (of people only, by default), grouped by photo."""
        extra = " AND f.person_id IS NOT NULL" if only_people else ""
        return [_box(r) for r in self._db._read(
            "SELECT f.id, f.file_id, f.x1, f.y1, f.x2, f.y2, f.short_edge, fl.path, fl.width, fl.height "
            f"FROM faces f JOIN files fl ON fl.id = f.file_id WHERE f.enriched_run IS NULL{extra} "
            "ORDER BY f.file_id, f.id")]

    def set_enrichment(self, results: Iterable[tuple[int, np.ndarray, tuple]], run_id: int) -> None:
        """(face id, dense landmarks in original px, (pitch, yaw, roll)) per face."""
        self._db._write_many(
            "UPDATE faces SET landmarks_dense = ?, pitch = ?, yaw = ?, roll = ?, enriched_run = ? WHERE id = ?",
            [(to_blob(dense), *pose, run_id, int(face_id)) for face_id, dense, pose in results])

    def ids(self, unscored_only: bool = False) -> list[int]:
        extra = " WHERE quality IS NULL" if unscored_only else ""
        return [r[0] for r in self._db._read(f"SELECT id FROM faces{extra} ORDER BY id")]

    def quality_inputs(self, face_ids: Iterable[int] | None = None) -> list[QualityInput]:
        sql = ("SELECT faces.id, faces.landmarks, faces.landmarks_dense, faces.pitch, faces.yaw, "
               "faces.det_score, faces.short_edge, faces.sharpness, models.detector, models.landmark_scheme "
               "FROM faces JOIN models ON models.id = faces.model_id")
        if face_ids is None:
            rows = self._db._read(sql + " ORDER BY faces.id").fetchall()
        else:
            rows = []
            for part in chunks(face_ids):
                rows += self._db._read(sql + f" WHERE faces.id IN ({marks(len(part))})", part).fetchall()
        return [QualityInput(r[0], from_blob(r[1], (-1, 2)), from_blob(r[2], (-1, 2)), *r[3:]) for r in rows]

    def set_quality(self, scores: Iterable[tuple[int, dict]]) -> None:
        """(face id, {q_frontal, q_det, q_symmetry, q_size, q_sharp, quality}) per face."""
        self._db._write_many(
            "UPDATE faces SET q_frontal = ?, q_det = ?, q_symmetry = ?, q_size = ?, q_sharp = ?, quality = ? "
            "WHERE id = ?", [(*(q[k] for k in QUALITY_COMPONENTS), q["quality"], int(face_id)) for face_id, q in scores])

    # -- curation snapshots -----------------------------------------------------------------------
    def assignments(self, people: Iterable[int], face_ids: Iterable[int]) -> list[dict]:
        """Where the faces of `people` and the faces `face_ids` are now (for undo)."""
        people, face_ids = [int(p) for p in people], [int(f) for f in face_ids]
        if not people and not face_ids:
            return []
        rows = self._db._read(
            f"SELECT id, {', '.join(ASSIGNMENT_COLUMNS)} FROM faces WHERE person_id IN ({marks(len(people)) or 'NULL'}) "
            f"OR id IN ({marks(len(face_ids)) or 'NULL'}) ORDER BY id", (*people, *face_ids))
        return [dict(r) for r in rows]

    def restore_assignments(self, rows: Iterable[dict]) -> None:
        rows = list(rows)
        with self._db.transaction():
            centroids.change(self._db, {int(r["id"]): (r["person_id"], r["gate"] is not None) for r in rows})
            self._db._write_many(f"UPDATE faces SET {', '.join(f'{c} = ?' for c in ASSIGNMENT_COLUMNS)} WHERE id = ?",
                                 [(*(r[c] for c in ASSIGNMENT_COLUMNS), r["id"]) for r in rows])

    # -- curate --
    def owners(self, face_ids: Iterable[int]) -> dict[int, int | None]:
        """Face id -> the person holding it now (None: nobody), for those of `face_ids` that
        exist (a face missing from the result is gone from the catalog)."""
        found: dict[int, int | None] = {}
        for part in chunks(face_ids):
            found.update((int(r[0]), r[1]) for r in self._db._read(
                f"SELECT id, person_id FROM faces WHERE id IN ({marks(len(part))})", part))
        return found

    # -- web --
    def best_faces(self, person_ids: Iterable[int]) -> dict[int, int]:
        """Person id -> its best face (`best_face` for many people in one read)."""
        found = {}
        for part in chunks(person_ids):
            found.update(self._db._read(
                f"SELECT person_id, id FROM (SELECT f.person_id, f.id, ROW_NUMBER() OVER "
                f"(PARTITION BY f.person_id ORDER BY {BEST_FIRST}) AS rank FROM faces f "
                f"WHERE f.person_id IN ({marks(len(part))})) WHERE rank = 1", part).fetchall())
        return found

    def cards_of_person(self, person_id: int, *, limit: int, offset: int = 0) -> list[FaceCard]:
        """One page of a person's faces, best first."""
        return [FaceCard(*r) for r in self._db._read(
            f"{_CARD} WHERE f.person_id = ? ORDER BY {BEST_FIRST} LIMIT ? OFFSET ?",
            (int(person_id), int(limit), max(0, int(offset))))]

    def unsorted_count(self) -> int:
        """How many faces are unsorted: held by no person, or alone in theirs."""
        return self._db._read(f"SELECT COUNT(*) FROM faces f WHERE {_UNSORTED}").fetchone()[0]

    def unsorted_cards(self, *, limit: int, offset: int = 0) -> list[FaceCard]:
        """One page of the unsorted faces (see `unsorted_count`), by id."""
        return [FaceCard(*r) for r in self._db._read(
            f"{_CARD} WHERE {_UNSORTED} ORDER BY f.id LIMIT ? OFFSET ?", (int(limit), max(0, int(offset))))]

    # -- media --
    def set_frames(self, file_id: int, frames: dict[int, VideoFrame]) -> None:
        """The video frame of each face of a video (face index -> frame), after embed wrote its
        faces; frames no face of the file points at any more go."""
        file_id = int(file_id)
        self._db._write_many("INSERT OR IGNORE INTO frames(file_id, frame_index, t_ms) VALUES (?, ?, ?)",
                             [(file_id, int(f.index), float(f.t_ms)) for f in frames.values()])
        self._db._write_many(
            "UPDATE faces SET frame_id = (SELECT id FROM frames WHERE file_id = ? AND frame_index = ?) "
            "WHERE file_id = ? AND face_index = ?",
            [(file_id, int(f.index), file_id, int(index)) for index, f in frames.items()])
        self._db._write("DELETE FROM frames WHERE file_id = ? AND id NOT IN "
                        "(SELECT frame_id FROM faces WHERE file_id = ? AND frame_id IS NOT NULL)", (file_id, file_id))

    def frames_of(self, face_ids: Iterable[int]) -> dict[int, VideoFrame]:
        """Face id -> the video frame it was cut from, for those of `face_ids` seen in a video."""
        found: dict[int, VideoFrame] = {}
        for part in chunks(face_ids):
            for r in self._db._read(f"SELECT f.id, fr.frame_index, fr.t_ms FROM faces f JOIN frames fr "
                                    f"ON fr.id = f.frame_id WHERE f.id IN ({marks(len(part))})", part):
                found[int(r[0])] = VideoFrame(int(r[1]), float(r[2]))
        return found

    def ids_by_index(self, file_id: int) -> dict[int, int]:
        """Face index -> face id, of one file's faces."""
        return {int(r[0]): int(r[1]) for r in self._db._read(
            "SELECT face_index, id FROM faces WHERE file_id = ?", (int(file_id),))}

    def person_regions(self, include_unnamed: bool = False) -> list[PersonRegion]:
        """Faces of named people (`include_unnamed`: of every person) on embedded photos (not
        video frames), by photo then face index."""
        named = "" if include_unnamed else " AND p.name IS NOT NULL"
        return [PersonRegion(r[0], r[1], r[2], r[3], (r[4], r[5], r[6], r[7]), r[8], r[9]) for r in self._db._read(
            "SELECT f.file_id, fl.path, fl.width, fl.height, f.x1, f.y1, f.x2, f.y2, p.id, p.name FROM faces f "
            "JOIN files fl ON fl.id = f.file_id JOIN people p ON p.id = f.person_id "
            f"WHERE fl.status = 'done' AND f.frame_id IS NULL AND fl.width > 0 AND fl.height > 0{named} "
            "ORDER BY f.file_id, f.face_index")]

    # -- review --
    def add_drawn(self, file_id: int, face: NewFace, *, model_id: int, input_mode: str = "photos") -> int:
        """A face the user drew on a photo (detected inside the box, or embedded at it): a new
        face after the photo's others, in nobody and new to clustering; the photo counts it."""
        file_id = int(file_id)
        with self._db.transaction():
            index = self._db._read("SELECT COALESCE(MAX(face_index), -1) + 1 FROM faces WHERE file_id = ?",
                                   (file_id,)).fetchone()[0]
            face_id = self._db._write(
                "INSERT INTO faces(file_id, face_index, x1, y1, x2, y2, landmarks, det_score, short_edge, sharpness, "
                "embedding, model_id, input_mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (file_id, index, *(float(v) for v in face.box),
                 to_blob(face.landmarks) if face.landmarks is not None else None, float(face.score),
                 float(face.short_edge), face.sharpness, to_blob(face.embedding), int(model_id), input_mode)).lastrowid
            self._db._write("UPDATE files SET n_faces = COALESCE(n_faces, 0) + 1, "
                            "status = CASE WHEN status = 'noface' THEN 'done' ELSE status END WHERE id = ?", (file_id,))
        return int(face_id)

    # -- scale --
    def add_embedded_photos(self, photos: BulkPhotos, *, model_id: int, run_id: int | None = None) -> np.ndarray:
        """Bulk load: photos embedded elsewhere with their faces, one statement per table for
        the lot (the scale benchmark builds million-face libraries with it). Paths must be new.
        Returns the new photos' ids, in order."""
        with self._db.transaction():
            first = self._db._read("SELECT COALESCE(MAX(id), 0) FROM files").fetchone()[0] + 1
            ids = np.arange(first, first + len(photos.paths), dtype=np.int64)
            self._db._write_many(
                "INSERT INTO files(id, path, size, mtime_ns, width, height, status, model_id, input_mode, n_faces, "
                "seen_run, done_run) VALUES (?, ?, 0, 0, ?, ?, ?, ?, 'photos', ?, ?, ?)",
                ((int(i), path, int(w), int(h), "done" if n else "noface", model_id, int(n), run_id, run_id)
                 for i, path, (w, h), n in zip(ids, photos.paths, photos.sizes, photos.faces_per_photo)))
            owner = np.repeat(ids, photos.faces_per_photo)
            index = np.arange(len(owner)) - np.repeat(np.cumsum(photos.faces_per_photo) - photos.faces_per_photo,
                                                      photos.faces_per_photo)
            edges = np.minimum(photos.boxes[:, 2] - photos.boxes[:, 0], photos.boxes[:, 3] - photos.boxes[:, 1])
            self._db._write_many(
                "INSERT INTO faces(file_id, face_index, x1, y1, x2, y2, det_score, short_edge, embedding, model_id, "
                "input_mode, created_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'photos', ?)",
                ((int(f), int(i), *map(float, box), float(score), float(edge), vector.tobytes(), model_id, run_id)
                 for f, i, box, score, edge, vector in zip(owner, index, photos.boxes, photos.scores, edges,
                                                           photos.embeddings)))
        return ids


def _box(row) -> FaceBox:
    return FaceBox(row[0], row[1], (row[2], row[3], row[4], row[5]), row[6], row[7], row[8], row[9])


_CARD = ("SELECT f.id, f.file_id, f.person_id, fl.path, fl.taken_at, f.quality, f.gate, f.assigned_by "
         "FROM faces f JOIN files fl ON fl.id = f.file_id")
_UNSORTED = ("(f.person_id IS NULL OR f.person_id IN (SELECT person_id FROM faces WHERE person_id IS NOT NULL "
             "GROUP BY person_id HAVING COUNT(*) = 1))")

