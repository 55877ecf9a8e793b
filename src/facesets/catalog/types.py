"""The values the catalog hands out and takes back: statuses as enums, rows as small dataclasses.

Enums are `StrEnum`s, so they compare equal to the text stored in SQLite and to the strings older
callers pass; rows are frozen dataclasses, so a caller cannot mistake a copy for a live record.
"""
from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field

import numpy as np


class FileStatus(enum.StrEnum):
    PENDING = "pending"      # scanned, not embedded yet
    DONE = "done"            # embedded, holds faces
    NOFACE = "noface"        # embedded, no face found
    MULTIFACE = "multiface"  # crops mode: several faces in a crop (the largest is kept)
    ERROR = "error"          # unreadable; `error` says why
    MISSING = "missing"      # gone from disk; its faces and people are kept


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    MASKED = "masked"        # curation: occluded faceset quarantined
    MERGED = "merged"        # folded into another person (merged_into)
    THIN = "thin"            # curation: too small to stand alone


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class OperationStatus(enum.StrEnum):
    PLANNED = "planned"
    APPLIED = "applied"
    UNDONE = "undone"


class AssignedBy(enum.StrEnum):
    """Who put a face where it is; clustering never moves the faces of KEPT_ASSIGNMENTS."""
    CLUSTER = "cluster"
    REFINE = "refine"
    EXTEND = "extend"
    USER = "user"
    IMPORT = "import"
    CURATE = "curate"


KEPT_ASSIGNMENTS = (AssignedBy.USER, AssignedBy.IMPORT)


@dataclass(frozen=True)
class ModelInfo:
    id: int
    engine: str
    model: str
    dim: int
    detector: str
    landmark_scheme: str

    @property
    def key(self) -> str:
        return f"{self.engine}/{self.model}"


@dataclass(frozen=True)
class FileRow:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str
    error: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    n_faces: int | None = None
    done_run: int | None = None
    input_mode: str | None = None


@dataclass(frozen=True)
class AliasRow:
    id: int
    path: str
    file_id: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Person:
    id: int
    name: str | None = None
    pinned: bool = False
    imported: bool = False
    source: str | None = None
    merged_into: int | None = None
    status: str = PersonStatus.ACTIVE
    parent_id: int | None = None
    era: str | None = None
    faceset: bool = False
    cluster_run: int | None = None
    created_run: int | None = None
    n_faces: int = 0             # faces it holds now (0 where the query did not count them)

    @property
    def label(self) -> str:
        """What a person is called in folder names and pages: its name, else person_NNN."""
        return person_label(self.id, self.name)

    def as_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def person_label(person_id: int, name: str | None) -> str:
    return name or f"person_{int(person_id):03d}"


@dataclass(frozen=True)
class RunRow:
    id: int
    command: str
    status: str
    params: dict
    stats: dict | None
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class Operation:
    id: int
    command: str
    status: str
    plan: dict
    journal: dict | None


@dataclass(frozen=True)
class ExportRow:
    id: int
    out: str
    targets: list
    params: dict
    run_id: int | None
    created_at: str


@dataclass
class NewFace:
    """One detected face as embed commits it; boxes and landmarks in original pixels."""
    box: np.ndarray
    landmarks: np.ndarray | None
    score: float
    short_edge: float
    sharpness: float | None
    embedding: np.ndarray


@dataclass(frozen=True, eq=False)
class ClusterInput:
    """What clustering reads: face ids, their embeddings, photos, current person (-1: none),
    and whether the face's place was decided by a user or an import (kept)."""
    ids: np.ndarray
    X: np.ndarray
    files: np.ndarray
    current: np.ndarray
    kept: np.ndarray

    def __iter__(self):   # unpacks like the tuple it replaces
        return iter((self.ids, self.X, self.files, self.current, self.kept))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, eq=False)   # holds arrays: compare ids, not rows
class Face:
    """One face as the catalog holds it (what a library caller gets from `faces`)."""
    id: int
    file_id: int
    path: str                   # the photo's first location
    face_index: int             # order within the photo (largest first)
    box: tuple[float, float, float, float]   # x1, y1, x2, y2 in original pixels
    landmarks: np.ndarray | None             # (5, 2) original pixels
    score: float                # detector score (the engine's own scale)
    short_edge: float
    sharpness: float | None
    embedding: np.ndarray = field(repr=False)
    person_id: int | None = None
    assigned_by: str | None = None
    gate: str | None = None     # why refine left it out of its person's faceset (None: in)
    input_mode: str = "photos"
    quality: float | None = None
    components: dict = field(default_factory=dict)   # the quality components (q_frontal, ...)
    pose: tuple[float | None, float | None, float | None] = (None, None, None)   # pitch, yaw, roll
    landmarks_dense: np.ndarray | None = field(default=None, repr=False)     # enrich's, original pixels
    enriched_run: int | None = None
    origin: dict | None = None  # an imported crop's original photo and box
    clustered_run: int | None = None   # the clustering that last placed it (None: new since)


@dataclass(frozen=True, eq=False)
class FaceDetail:
    """A face with what curation, export and the pages look at (embedding included)."""
    id: int
    file_id: int
    person_id: int | None
    path: str
    sha256: str | None
    taken_at: str | None
    box: tuple[float, float, float, float]
    det_score: float
    short_edge: float
    quality: float | None
    components: dict = field(default_factory=dict)
    embedding: np.ndarray | None = field(default=None, repr=False)

    @property
    def composite(self) -> float:
        """Composite quality; before enrich ran, detector score x size stands in."""
        if self.quality is not None:
            return float(self.quality)
        return float(self.det_score or 0) * 0.01 + float(self.short_edge or 0) * 1e-4


# -- web --
def person_number(text: str) -> int | None:
    """The number in a person the user typed as 12, #12, person_012 or person_12; else None."""
    match = re.fullmatch(r"(?:person_|#)?0*(\d+)", (text or "").strip(), re.I)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class PersonCard(Person):
    """A person as the people grid shows it: the mean quality of its faces (None before enrich)
    and its cover, its best face."""
    quality: float | None = None
    cover: int | None = None


@dataclass(frozen=True)
class PersonStats(Person):
    """A person as its page shows it: mean face quality, its photos' first and last dates, and
    how many of its faces refine kept in its faceset."""
    quality: float | None = None
    first_date: str | None = None
    last_date: str | None = None
    n_in_faceset: int = 0


@dataclass(frozen=True)
class FaceCard:
    """A face as the pages list it: its photo, date, quality and who placed it where."""
    id: int
    file_id: int
    person_id: int | None
    path: str
    taken_at: str | None
    quality: float | None
    gate: str | None           # why refine left it out of its person's faceset (None: in)
    assigned_by: str | None

    @property
    def photo(self) -> str:
        """The photo's file name, whichever separator its path uses."""
        return (self.path or "").replace("\\", "/").rsplit("/", 1)[-1]


# -- media --
@dataclass(frozen=True)
class VideoFrame:
    """The frame of a video a face was cut from: its index in decode order and its time."""
    index: int
    t_ms: float


@dataclass(frozen=True)
class PersonRegion:
    """A person's face on an embedded photo, as `facesets tag` writes it into XMP: the box in
    the upright photo's pixels, the photo's upright size, who the face belongs to."""
    file_id: int
    path: str
    width: int
    height: int
    box: tuple[float, float, float, float]
    person_id: int
    name: str | None

    @property
    def label(self) -> str:
        return person_label(self.person_id, self.name)


# -- review --
@dataclass(frozen=True)
class PersonFacts:
    """What the user said about a person outside curation (curation undo never changes it)."""
    hidden: bool = False
    birth_date: str | None = None    # YYYY-MM-DD


class BulkPhotos:
    """Photos embedded elsewhere, as arrays, for `FacesRepo.add_embedded_photos`: photo i is
    `paths[i]` of `sizes[i]` (width, height) pixels and holds `faces_per_photo[i]` faces, the next
    rows of `boxes` (x1, y1, x2, y2, original pixels), `scores` and `embeddings` (float32,
    L2-normalised)."""

    def __init__(self, paths: list[str], sizes: np.ndarray, faces_per_photo: np.ndarray, boxes: np.ndarray,
                 scores: np.ndarray, embeddings: np.ndarray):
        self.paths, self.sizes, self.faces_per_photo = paths, sizes, np.asarray(faces_per_photo, np.int64)
        self.boxes, self.scores = np.asarray(boxes, np.float64), np.asarray(scores, np.float64)
        self.embeddings = np.ascontiguousarray(embeddings, np.float32)
        if not (len(paths) == len(sizes) == len(self.faces_per_photo)
                and int(self.faces_per_photo.sum()) == len(self.boxes) == len(self.scores) == len(self.embeddings)):
            raise ValueError("photos and faces do not add up")
