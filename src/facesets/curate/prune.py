"""`facesets prune`: crops that should not be in the exported facesets.

Three checks, each a list of drop actions:
- cross-person byte duplicates: the same PNG bytes in two people's facesets stay only with the
  higher-priority person (named/pinned, then larger); copies inside one family (a person and its
  era sets, `people.parent_id`) are legitimate and kept;
- within-faceset near-duplicates (similarity >= near_duplicate_similarity): the best composite stays;
- multi-face audit: every exported PNG is re-detected with the catalog's engine; the consumer
  averages every face it finds, so a crop with != 1 face (score >= 0.5 for insightface, >= 40 px) goes.
"""
from __future__ import annotations

import numpy as np

from facesets.catalog import Catalog, Person, priority_key
from facesets.curate.core import CurationError, Proposal, profile_of
from facesets.curate.near import groups_of, near_pairs
from facesets.curate.tree import Faceset, load_facesets, sha256_file

MIN_FACE_PX = 40
INSIGHTFACE_MIN_SCORE = 0.5


def family(people: dict[int, Person], person_id: int | None) -> int | None:
    """The root of a person's family: follow parent_id (era sets) up to the person itself."""
    seen = set()
    while person_id is not None and person_id not in seen:
        seen.add(person_id)
        parent = getattr(people.get(person_id), "parent_id", None)
        if parent is None:
            return person_id
        person_id = int(parent)
    return person_id


def _drop(faceset: Faceset, crop, reason: str, digest: str | None = None, **extra) -> dict:
    return {"type": "drop_crop", "faceset": faceset.label, "file": crop.file, "face_id": crop.face_id,
            "sha256": digest or sha256_file(faceset.folder / crop.file), "reason": reason, **extra}


def cross_person_duplicates(facesets: list[Faceset], people: dict[int, Person], hashes: dict) -> tuple[list, list]:
    by_hash: dict[str, list] = {}
    for faceset in facesets:
        for crop in faceset.crops:
            by_hash.setdefault(hashes[(faceset.label, crop.file)], []).append((faceset, crop))
    actions, groups = [], []
    for digest, members in by_hash.items():
        owners = {f.person_id for f, _ in members}
        if len(owners) < 2 or len({family(people, p) for p in owners}) < 2:
            continue
        def rank(member):
            person = people.get(member[0].person_id) or {"id": 10**9, "n_faces": 0}
            return priority_key(person)
        ordered = sorted(members, key=rank)
        keeper_family = family(people, ordered[0][0].person_id)
        dropped = [(f, c) for f, c in ordered[1:] if family(people, f.person_id) != keeper_family]
        actions += [_drop(f, c, "cross-person duplicate", digest, kept_in=ordered[0][0].label) for f, c in dropped]
        groups.append({"kind": "cross_person", "title": f"same crop in {len(owners)} people",
                       "items": [{"image": str(f.folder / c.file), "mark": "keep" if i == 0 else
                                  ("drop" if (f, c) in dropped else ""), "caption": f"{f.label}/{c.file}"}
                                 for i, (f, c) in enumerate(ordered)]})
    return actions, groups


def near_duplicates(catalog: Catalog, facesets: list[Faceset], similarity: float, skip: set) -> tuple[list, list]:
    actions, groups = [], []
    for faceset in facesets:
        crops = [c for c in faceset.crops if c.face_id is not None and (faceset.label, c.file) not in skip]
        rows = catalog.faces.details(c.face_id for c in crops)
        crops = [c for c in crops if c.face_id in rows]
        if len(crops) < 2:
            continue
        matrix = np.stack([rows[c.face_id].embedding for c in crops])
        for members in groups_of(len(crops), near_pairs(matrix, similarity)):
            ordered = sorted(members, key=lambda m: (-rows[crops[m].face_id].composite, crops[m].file))
            actions += [_drop(faceset, crops[m], "near-duplicate in faceset", kept=crops[ordered[0]].file)
                        for m in ordered[1:]]
            groups.append({"kind": "near_duplicate", "title": f"{faceset.label}: {len(members)} near-duplicates",
                           "items": [{"image": str(faceset.folder / crops[m].file), "mark": "keep" if i == 0 else "drop",
                                      "caption": f"{crops[m].file} face {crops[m].face_id} "
                                                 f"q {rows[crops[m].face_id].composite:.3f}"}
                                     for i, m in enumerate(ordered)]})
    return actions, groups


def engine_for(catalog: Catalog, models: str | None = None):
    """The catalog's own engine, set up as export's re-detection is (so the audit sees what
    export saw, bystanders included)."""
    from facesets.engines import EngineOptions, EngineUnavailable
    from facesets.export import verification_engine

    model = catalog.embedding_model()
    if model is None:
        raise CurationError("the catalog holds no embeddings yet")
    options = EngineOptions(engine=model.engine, pack=model.model.split("/")[0], models=models)
    if model.engine == "dlib" and model.detector in ("hog", "yunet"):
        options.detector = model.detector
    try:
        return verification_engine(catalog, options)
    except EngineUnavailable as exc:
        raise CurationError(str(exc)) from None


def count_faces(engine, rgb: np.ndarray) -> int:
    """Faces a consumer would find: big enough, and confident enough for insightface."""
    found = 0
    for detection in engine.detect(rgb):
        if engine.engine == "insightface" and detection.score < INSIGHTFACE_MIN_SCORE:
            continue
        if detection.short_edge < MIN_FACE_PX:
            continue
        found += 1
    return found


def multi_face_audit(engine, facesets: list[Faceset], skip: set, progress=None,
                     workers: int | None = None) -> tuple[list, list, int]:
    """Re-detect every crop not already dropped, on a few threads (the engines keep per-thread
    detectors); crops with != 1 face are dropped."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from facesets.media.decode import DecodeError, read_image

    todo = [(f, c) for f in facesets for c in f.crops if (f.label, c.file) not in skip]

    def faces_in(item) -> int:
        faceset, crop = item
        try:
            return count_faces(engine, read_image(faceset.folder / crop.file).rgb)
        except DecodeError:
            return 0

    actions, items = [], []
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for (faceset, crop), n in zip(todo, pool.map(faces_in, todo)):
            if progress:
                progress("multi-face audit", 1, len(todo))
            if n != 1:
                actions.append(_drop(faceset, crop, f"{n} faces in crop", faces_found=n))
                items.append({"image": str(faceset.folder / crop.file), "mark": "drop",
                              "caption": f"{faceset.label}/{crop.file}: {n} faces"})
    groups = [{"kind": "multi_face", "title": f"crops without exactly one face ({len(items)})", "items": items}] if items else []
    return actions, groups, len(todo)


def analyze(catalog: Catalog, root, *, similarity: float | None = None, audit: bool = True,
            models: str | None = None, progress=None) -> Proposal:
    """Plan to drop, from the facesets exported under `root`: cross-person byte duplicates
    (kept with the higher-priority person), near-duplicates inside a faceset (cosine similarity
    of embeddings >= `similarity`; None: the profile's near_duplicate_similarity) and, with
    `audit` (on), crops in which the catalog's engine does not find exactly one face.
    `models`: the InsightFace packs folder (None: the default places); `progress`: a
    hook(phase, advance, total) called as crops are audited."""
    similarity = profile_of(catalog).near_duplicate_similarity if similarity is None else similarity
    facesets = load_facesets(root, catalog)
    people = catalog.people.with_counts()
    hashes = {(f.label, c.file): sha256_file(f.folder / c.file) for f in facesets for c in f.crops}
    cross, g1 = cross_person_duplicates(facesets, people, hashes)
    skip = {(a["faceset"], a["file"]) for a in cross}
    near, g2 = near_duplicates(catalog, facesets, similarity, skip)
    skip |= {(a["faceset"], a["file"]) for a in near}
    multi, g3, audited = [], [], 0
    if audit:
        multi, g3, audited = multi_face_audit(engine_for(catalog, models), facesets, skip, progress)
    return Proposal(groups=g1 + g2 + g3, actions=cross + near + multi, summary={
        "facesets": len(facesets), "crops": len(hashes), "cross_person_duplicates": len(cross),
        "near_duplicates": len(near), "multi_face": len(multi), "audited": audited, "similarity": similarity})
