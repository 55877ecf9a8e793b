"""What the pages read, put together from the catalog's repositories (which hold the SQL): the
people grid with its pages, a person typed by the user, unsorted faces with suggestions, and
people and faces ranked by likeness to one face."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facesets.catalog import Catalog
from facesets.catalog.types import FaceCard, PersonCard, person_label, person_number
from facesets.profiles import profile_for
from facesets.web.settings import stored

PAGE_SIZE = 60
FACE_PAGE = 240


@dataclass
class Grid:
    rows: list[PersonCard]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Suggestion:
    """The person an unsorted face may belong to: the nearest centroid within the match distance."""
    person_id: int
    label: str
    distance: float


def pages(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


HIDDEN_FILTERS = {"": False, "only": True, "all": None}   # the grid's hidden filter -> people.grid(hidden=)


def people_grid(catalog: Catalog, *, sort: str = "count", q: str = "", min_faces: int = 1, named: str = "",
                status: str = "", hidden: str = "", page: int = 1, page_size: int = PAGE_SIZE) -> Grid:
    """One page of the people grid; a page past the end shows the last one. `hidden`: ""
    (people not hidden), "only" (hidden ones), "all"."""
    filters = dict(sort=sort, search=q, min_faces=min_faces, status=status or None,
                   named={"yes": True, "no": False}.get(named), hidden=HIDDEN_FILTERS.get(hidden, False))
    page = max(1, page)
    rows, total = catalog.people.grid(**filters, limit=page_size, offset=(page - 1) * page_size)
    if not rows and total and page > 1:
        page = pages(total, page_size)
        rows, total = catalog.people.grid(**filters, limit=page_size, offset=(page - 1) * page_size)
    return Grid(rows, total, page, pages(total, page_size))


def find_person(catalog: Catalog, text: str) -> int | None:
    """A person typed by the user: a number (12, #12, person_012), followed through merges, or
    the one person (not merged away) of that exact name, case-insensitively."""
    text = (text or "").strip()
    if not text:
        return None
    number = person_number(text)
    if number is not None:
        return catalog.people.resolve(number) if catalog.people.get(number) else None
    named = catalog.people.by_name(text)
    return named[0] if len(named) == 1 else None


def unsorted(catalog: Catalog, page: int = 1,
             page_size: int = PAGE_SIZE) -> tuple[list[FaceCard], dict[int, Suggestion], int]:
    """One page of the faces nobody holds and of faces alone in their person, the suggestion
    for each that has one (face id -> Suggestion), and how many such faces there are."""
    faces = catalog.faces.unsorted_cards(limit=page_size, offset=(max(1, page) - 1) * page_size)
    return faces, suggest(catalog, faces), catalog.faces.unsorted_count()


def suggest(catalog: Catalog, faces: list[FaceCard]) -> dict[int, Suggestion]:
    """For each face, the nearest person's centroid (not its own person's, not one the user ruled
    out for it, not a hidden one) when it is within the match distance (the settings page's, else the profile's)."""
    if not faces:
        return {}
    ids, centroids = catalog.people.centroids(gated=True)   # as `extend` reads them
    shown = ~np.isin(ids, list(catalog.people.hidden_ids()))
    ids, centroids = ids[shown], centroids[shown]
    if not len(ids):
        return {}
    model = catalog.embedding_model()
    limit = profile_for(model.key if model else None).match_distance
    limit = float(stored(catalog).get("match_distance", limit))   # as `extend` would use it
    ruled_out = catalog.people.exclusions_of(f.id for f in faces)
    details = catalog.faces.details(f.id for f in faces)
    distances = 1.0 - np.stack([details[f.id].embedding for f in faces]) @ centroids.T
    nearest = {}
    for face, row in zip(faces, distances):
        for j in np.argsort(row):
            pid = int(ids[j])
            if pid == face.person_id or (face.id, pid) in ruled_out:
                continue
            if row[j] <= limit:
                nearest[face.id] = (pid, float(row[j]))
            break
    labels = catalog.people.labels(pid for pid, _ in nearest.values())
    return {face_id: Suggestion(pid, labels.get(pid) or person_label(pid, None), distance)
            for face_id, (pid, distance) in nearest.items()}


def rank(catalog: Catalog, embedding: np.ndarray, n_people: int = 12, n_faces: int = 48,
         skip_face: int | None = None) -> tuple[list[dict], list[dict]]:
    """People by centroid similarity and faces by similarity to one embedding."""
    embedding = np.asarray(embedding, np.float32)
    embedding = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
    people = []
    ids, centroids = catalog.people.centroids()
    if len(ids):
        sims = centroids @ embedding
        order = np.argsort(-sims)[:n_people]
        chosen = [int(ids[i]) for i in order]
        labels, covers = catalog.people.labels(chosen), catalog.faces.best_faces(chosen)
        people = [{"id": pid, "label": labels[pid], "similarity": float(sims[i]), "cover": covers.get(pid)}
                  for pid, i in zip(chosen, order)]
    faces = []
    face_ids, matrix = catalog.faces.embeddings()
    if len(face_ids):
        sims = matrix @ embedding
        order = [i for i in np.argsort(-sims)[: n_faces + 1] if int(face_ids[i]) != skip_face][:n_faces]
        details = catalog.faces.details(int(face_ids[i]) for i in order)
        labels = catalog.people.labels({d.person_id for d in details.values() if d.person_id})
        for i in order:
            face = details[int(face_ids[i])]
            faces.append({"id": face.id, "person_id": face.person_id, "similarity": float(sims[i]),
                          "label": labels[face.person_id] if face.person_id else "unsorted"})
    return people, faces
