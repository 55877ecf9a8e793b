"""What the review queue proposes, one item at a time, surest first.

- `face`: a face in nobody whose nearest person lies within the profile's review distance, a
  band wider than the match distance within which `extend` joins faces by itself;
- `weak`: a face clustering placed (not the user) farther from the rest of its person (the
  centroid of its other faces) than the match distance;
- `merge`: two people consolidate would merge only with --include-uncertain.

A face item carries the people it may belong to, nearest first (its own person among them
for a weak member). Never proposed: a person the user ruled out for that face (face_exclusions,
which `extend` honours too), a person already holding another face of that photo (as in
`extend`), two people the user kept apart, hidden people. Distances to people are to their
centroids as `extend` reads them (refine's left-out faces ignored).

Confidence is a logistic of the distance, 0.9 at a sure distance and 0.1 at the edge of what is
proposed: for faces the profile's review_sure and review_distance, fitted to how often the first
suggestion was right on lfw158 with 200 singletons and the bystanders as strangers
(`benchmarks/review_band.py`, docs/profiles.md); for merges consolidate's two cuts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from facesets.catalog import Catalog, CatalogError, FaceFilter, priority_key
from facesets.cluster.stages import cluster_params
from facesets.curate.consolidate import candidates, merge_groups
from facesets.curate.core import profile_of

MAX_CHOICES = 9          # keys 1-9
CHUNK = 4096             # faces compared with every centroid at once
SURE, EDGE = 0.9, 0.1    # confidence at the sure distance and at the edge


@dataclass(frozen=True)
class Choice:
    person_id: int
    distance: float
    confidence: float


@dataclass(frozen=True)
class Item:
    """One proposal. Face items: `face_id`, its photo (`photo`: the cannot-link key), the person
    holding it when proposed (`was`, None: nobody), the people it may belong to (`choices`,
    nearest first). Merge items: `was` and the one choice are the two people, `was` the one a
    merge keeps."""
    kind: str                      # face | weak | merge
    face_id: int | None
    photo: int | None
    was: int | None
    choices: tuple[Choice, ...]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.face_id}" if self.face_id is not None else f"merge:{self.was}:{self.choices[0].person_id}"

    @property
    def confidence(self) -> float:
        return self.choices[0].confidence if self.choices else 0.0


def confidence(distance, sure: float, edge: float):
    """SURE at `sure`, 0.5 halfway, EDGE at `edge`: a logistic in the distance."""
    slope = 2.0 * math.log(SURE / (1 - SURE)) / max(edge - sure, 1e-9)
    return 1.0 / (1.0 + np.exp(slope * (np.asarray(distance, np.float64) - (sure + edge) / 2)))


@dataclass(frozen=True)
class Cuts:
    """The distances the queue works with, for this catalog."""
    match: float      # extend joins a face by itself within this
    sure: float       # a suggestion this near has confidence 0.9
    review: float     # faces in nobody are proposed within this (confidence 0.1)
    tight: float      # consolidate: confident merge
    loose: float      # consolidate: uncertain merge

    def face_confidence(self, distance):
        return confidence(distance, self.sure, self.review)

    def merge_confidence(self, distance):
        return confidence(distance, self.tight, self.loose)


def cuts(catalog: Catalog) -> Cuts:
    """The profile's cuts, the match distance as `extend` takes it (settings included)."""
    profile = profile_of(catalog)
    match = cluster_params(catalog).match_distance
    tight, loose = sorted((profile.consolidate_edge, profile.consolidate_confident))
    review = max(profile.review_distance, match)
    return Cuts(match, min(profile.review_sure, review), review, tight, loose)


def proposals(catalog: Catalog, photos_only: tuple[int, ...] | None = None) -> list[Item]:
    """Every item the queue proposes now, surest first. `photos_only`: only the faces in nobody
    of these photos (a face just drawn, faces just removed from a person)."""
    try:
        limits = cuts(catalog)
    except CatalogError:      # nothing embedded yet
        return []
    hidden = catalog.people.hidden_ids()
    ids, X, photos, current, kept = catalog.faces.cluster_input(
        FaceFilter() if photos_only is None else FaceFilter(files=tuple(photos_only)))
    people, centroids = catalog.people.centroids(gated=True)
    shown = ~np.isin(people, list(hidden))
    people, centroids = people[shown], centroids[shown]
    if not len(people):
        return []
    excluded = catalog.people.exclusions()
    placed = current >= 0
    taken = set(zip(photos[placed].tolist(), current[placed].tolist()))
    nearest = Nearest(centroids, limits)
    items = _faces_in_nobody(ids, X, photos, current, people, nearest, excluded, taken, limits)
    if photos_only is None:
        items += _weak_members(ids, X, photos, current, kept, hidden, people, nearest, excluded, taken, limits)
        items += _merges(catalog, people, centroids, limits)
    return sorted(items, key=order)


def order(item: Item) -> tuple:
    """The queue's order: surest first."""
    return (-item.confidence, item.kind, item.key)


class Nearest:
    """The people's centroids, searched for each face's nearest ones (faiss: no faces x people
    matrix, no full sort)."""

    def __init__(self, centroids: np.ndarray, limits: Cuts):
        self.index = faiss.IndexFlatIP(centroids.shape[1])
        self.index.add(np.ascontiguousarray(centroids, np.float32))
        self.k = min(MAX_CHOICES * 4, len(centroids))   # enough to fill MAX_CHOICES after the pairs ruled out
        self.limits = limits

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices, distances, confidences) of each face's nearest people, nearest first."""
        similarity, near = self.index.search(np.ascontiguousarray(X, np.float32), self.k)
        distance = 1.0 - similarity
        return near, distance, self.limits.face_confidence(distance)


def _choices(near: np.ndarray, distance: np.ndarray, sure: np.ndarray, face: int, photo: int, own: int | None,
             people: np.ndarray, excluded: set, taken: set) -> list[Choice]:
    """The nearest people a face may go to (one row of `_nearest`), without its own person, a
    person ruled out for it, or a person already in its photo."""
    found = []
    for j, d, c in zip(near.tolist(), distance.tolist(), sure.tolist()):
        pid = int(people[j])
        if pid == own or (face, pid) in excluded or (photo, pid) in taken:
            continue
        found.append(Choice(pid, d, c))
        if len(found) == MAX_CHOICES:
            break
    return found


def _faces_in_nobody(ids, X, photos, current, people, nearest, excluded, taken, limits) -> list[Item]:
    items = []
    rows = np.flatnonzero(current < 0)
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        near, distance, sure = nearest(X[part])
        for r in np.flatnonzero(distance[:, 0] <= limits.review):
            i = int(part[r])
            choices = _choices(near[r], distance[r], sure[r], int(ids[i]), int(photos[i]), None, people, excluded, taken)
            if choices and choices[0].distance <= limits.review:
                items.append(Item("face", int(ids[i]), int(photos[i]), None, tuple(choices)))
    return items


def _weak_members(ids, X, photos, current, kept, hidden, people, nearest, excluded, taken, limits) -> list[Item]:
    """Faces clustering placed, farther than the match distance from their person's other faces."""
    placed = np.flatnonzero(current >= 0)
    if not len(placed):
        return []
    order = placed[np.argsort(current[placed], kind="stable")]          # by person
    _, starts, sizes = np.unique(current[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(X[order], starts, axis=0)
    others = np.repeat(sums, sizes, axis=0) - X[order]                   # each face's person without it
    norms = np.linalg.norm(others, axis=1)
    apart = 1.0 - np.einsum("ij,ij->i", X[order], others) / np.maximum(norms, 1e-12)
    weak = np.flatnonzero((np.repeat(sizes, sizes) >= 3) & ~kept[order] & (apart > limits.match)
                          & ~np.isin(current[order], list(hidden)))
    items = []
    for start in range(0, len(weak), CHUNK):
        part = weak[start:start + CHUNK]
        near, distance, sure = nearest(X[order[part]])
        for r, w in enumerate(part):
            i = int(order[w])
            face, photo, own = int(ids[i]), int(photos[i]), int(current[i])
            choices = _choices(near[r], distance[r], sure[r], face, photo, own, people, excluded, taken)
            if (face, own) not in excluded:
                choices.append(Choice(own, float(apart[w]), float(limits.face_confidence(apart[w]))))
            choices = sorted(choices, key=lambda c: c.distance)[:MAX_CHOICES]
            items.append(Item("weak", face, photo, own, tuple(choices)))
    return items


def _merges(catalog: Catalog, people: np.ndarray, centroids: np.ndarray, limits: Cuts) -> list[Item]:
    """consolidate's uncertain groups, as pairs: the person a merge keeps and each other one."""
    eligible = candidates(catalog)
    use = np.array([int(p) in eligible for p in people], bool)
    if use.sum() < 2:
        return []
    ids, sub = people[use], centroids[use]
    position = {int(p): i for i, p in enumerate(ids)}
    items = []
    for members, _, confident in merge_groups(ids, sub, limits.tight, limits.loose, catalog.people.apart_pairs()):
        if confident:
            continue
        primary, *others = sorted((eligible[m] for m in members), key=priority_key)
        for other in others:
            distance = float(1.0 - sub[position[primary.id]] @ sub[position[other.id]])
            items.append(Item("merge", None, None, primary.id,
                              (Choice(other.id, distance, float(limits.merge_confidence(distance))),)))
    return items
