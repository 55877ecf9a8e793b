"""Which faces go into each exported faceset, best first.

Export's gates are tighter than refine's: the outlier cut against the faceset's centroid is the
profile's export_outlier, faces under export_min_short are left out, each source photo gives
a person at most one face (its best box; a video, one per frame), and visual near-duplicates (burst shots,
re-compressions) collapse to the best composite. What remains is ranked by composite quality.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..catalog import Catalog, FaceDetail, PersonStatus
from ..catalog.types import VideoFrame
from ..profiles import Profile


@dataclass
class Pick:
    face_id: int
    file_id: int
    path: str
    box: tuple[float, float, float, float]
    det_score: float
    short_edge: float
    quality: float
    components: dict
    taken_at: str | None
    embedding: np.ndarray = field(repr=False)
    frame: VideoFrame | None = None   # a face seen in a video: the frame it is cut from


def _pick(face: FaceDetail) -> Pick:
    return Pick(face.id, face.file_id, face.path, face.box, face.det_score, face.short_edge, face.quality or 0.0,
                face.components, face.taken_at, face.embedding)


@dataclass
class Faceset:
    person_id: int
    name: str | None
    folder: str
    picks: list[Pick]
    dropped: dict[str, int]

    @property
    def centroid(self) -> np.ndarray:
        E = np.stack([p.embedding for p in self.picks])
        c = E.mean(axis=0)
        return c / max(np.linalg.norm(c), 1e-12)


def select_facesets(catalog: Catalog, profile: Profile, folder_of) -> list[Faceset]:
    """Every person marked as a faceset by refine (and not hidden by the user), with its faces
    gated and ranked."""
    out = []
    hidden = catalog.people.hidden_ids()
    for person in catalog.people.active():
        if not person.faceset or person.status not in (None, PersonStatus.ACTIVE) or person.id in hidden:
            continue
        picks = [_pick(f) for f in catalog.faces.faceset_picks(person.id)]
        frames = catalog.faces.frames_of(p.face_id for p in picks)
        for pick in picks:
            pick.frame = frames.get(pick.face_id)
        kept, dropped = gate_picks(picks, profile)
        if kept:
            out.append(Faceset(person.id, person.name, folder_of(person), kept, dropped))
    return out


def gate_picks(picks: list[Pick], profile: Profile) -> tuple[list[Pick], dict[str, int]]:
    dropped = {"small": 0, "outlier": 0, "same_photo": 0, "near_duplicate": 0}
    picks = [p for p in picks if p.short_edge >= profile.export_min_short or _count(dropped, "small")]
    if len(picks) >= 4:
        E = np.stack([p.embedding for p in picks])
        c = E.mean(axis=0)
        c /= max(np.linalg.norm(c), 1e-12)
        distance = 1.0 - E @ c
        picks = [p for p, d in zip(picks, distance) if d <= profile.export_outlier or _count(dropped, "outlier")]
    best_per_photo: dict[tuple, Pick] = {}
    for p in picks:   # a photo, or a video's frame, shows a person once
        other = best_per_photo.get((p.file_id, p.frame))
        if other is None or (p.quality, p.short_edge) > (other.quality, other.short_edge):
            best_per_photo[(p.file_id, p.frame)] = p
    dropped["same_photo"] = len(picks) - len(best_per_photo)
    ranked = sorted(best_per_photo.values(), key=lambda p: (-p.quality, p.face_id))
    kept: list[Pick] = []
    kept_matrix = np.zeros((len(ranked), ranked[0].embedding.shape[0] if ranked else 0), np.float32)
    for p in ranked:  # best first, so the kept one of a near-duplicate pair is the best
        if kept and float(np.max(kept_matrix[:len(kept)] @ p.embedding)) >= profile.near_duplicate_similarity:
            dropped["near_duplicate"] += 1
            continue
        kept_matrix[len(kept)] = p.embedding
        kept.append(p)
    return kept, dropped


def _count(dropped: dict, key: str) -> bool:
    dropped[key] += 1
    return False
