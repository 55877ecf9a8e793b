"""Which faces go into each exported faceset, best first.

Export's gates are tighter than refine's: the outlier cut against the faceset's centroid is the
profile's export_outlier, faces under export_min_short are left out, each source photo gives
a person at most one face (its best box), and visual near-duplicates (burst shots,
re-compressions) collapse to the best composite. What remains is ranked by composite quality.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..catalog import Catalog, from_blob
from ..people import active_people
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


_FACES = ("SELECT faces.id, faces.file_id, files.path, files.taken_at, faces.x1, faces.y1, faces.x2, "
          "faces.y2, faces.det_score, faces.short_edge, faces.embedding, faces.quality, faces.q_frontal, "
          "faces.q_det, faces.q_symmetry, faces.q_size, faces.q_sharp FROM faces JOIN files "
          "ON files.id = faces.file_id WHERE faces.person_id = ? AND faces.gate IS NULL "
          "AND files.status = 'done' ORDER BY faces.id")


def _pick(row) -> Pick:
    components = {k: row[k] for k in ("q_frontal", "q_det", "q_symmetry", "q_size", "q_sharp")}
    return Pick(row["id"], row["file_id"], row["path"], (row["x1"], row["y1"], row["x2"], row["y2"]),
                row["det_score"], row["short_edge"], row["quality"] or 0.0, components, row["taken_at"],
                from_blob(row["embedding"]))


def select_facesets(catalog: Catalog, profile: Profile, folder_of) -> list[Faceset]:
    """Every person marked as a faceset by refine, with its faces gated and ranked."""
    out = []
    for person in active_people(catalog):
        if not person["faceset"] or person["status"] not in (None, "active"):
            continue
        picks = [_pick(r) for r in catalog.conn.execute(_FACES, (person["id"],))]
        kept, dropped = gate_picks(picks, profile)
        if kept:
            out.append(Faceset(person["id"], person["name"], folder_of(person), kept, dropped))
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
    best_per_photo: dict[int, Pick] = {}
    for p in picks:
        other = best_per_photo.get(p.file_id)
        if other is None or (p.quality, p.short_edge) > (other.quality, other.short_edge):
            best_per_photo[p.file_id] = p
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
