"""`facesets name --refs DIR`: people named from a folder of reference photos.

`DIR/alice.jpg`, `DIR/alice_2.jpg` (a trailing _N numbers photos of one name) and
`DIR/alice/*.jpg` are references of "alice"; a photo with several faces counts by its largest.
A person whose centroid lies within the profile's name distance of one name's reference faces
gets that name. Where a person matches two names, or a name two people, the nearer one wins when
it is clearly nearer (the other at least MARGIN, 15%, farther); otherwise the match is listed for
review and left as it is, as is a person already named otherwise or a name another person holds. The names given are journaled:
`facesets undo` takes them back.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from facesets.catalog import Catalog, CatalogError
from facesets.config import IMAGE_EXTENSIONS
from facesets.curate.core import record_applied
from facesets.embed.commit import largest
from facesets.embed.single import faces_of_image
from facesets.engines import EngineOptions, load_engine
from facesets.export import engine_maker
from facesets.media import DecodeError
from facesets.profiles import profile_for

_NUMBERED = re.compile(r"^(.+?)_\d+$")
MARGIN = 0.15   # a second match less than 15% farther than the best makes a match ambiguous


@dataclass
class RefsResult:
    named: dict[int, str] = field(default_factory=dict)     # person id -> the name it was given
    already: dict[int, str] = field(default_factory=dict)   # people that had this name already
    review: list[dict] = field(default_factory=list)        # {reason, name(s), people}, not applied
    references: dict[str, int] = field(default_factory=dict)   # name -> reference faces found
    no_face: list[str] = field(default_factory=list)        # reference photos with no usable face
    operation_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def reference_photos(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """Name -> its reference photos in `folder` (files named after the person, or a folder each)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogError(f"{folder} is not a folder of reference photos")
    found: dict[str, list[Path]] = defaultdict(list)
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found[entry.name] += [p for p in sorted(entry.iterdir()) if _is_photo(p)]
        elif _is_photo(entry):
            match = _NUMBERED.match(entry.stem)
            found[match.group(1) if match else entry.stem].append(entry)
    return {name: photos for name, photos in found.items() if photos}


def _is_photo(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def name_from_refs(catalog: Catalog, folder: str | os.PathLike, *, engine_options: EngineOptions | None = None,
                   engine=None, apply: bool = True, progress=None) -> RefsResult:
    """Match every person against the references of `folder` and name the unambiguous ones
    (`apply=False`: only say what would be named)."""
    model = catalog.embedding_model()
    if model is None:
        raise CatalogError("the catalog holds no embeddings yet: run `facesets embed` first")
    engine = engine or load_engine(engine_maker(catalog, engine_options).options)
    result = RefsResult()
    names, vectors = [], []
    photos = reference_photos(folder)
    total = sum(len(p) for p in photos.values())
    for name, paths in photos.items():
        for path in paths:
            try:
                face = largest(faces_of_image(engine, path))
            except DecodeError:
                face = None
            if progress:
                progress("references", 1, total)
            if face is None:
                result.no_face.append(str(path))
                continue
            names.append(name)
            vectors.append(face["embedding"])
            result.references[name] = result.references.get(name, 0) + 1
    people = {p.id: p for p in catalog.people.active(top_level_only=True)}
    ids, centroids = catalog.people.centroids(people, gated=True)
    if not vectors or not len(ids):
        return result
    distance = 1.0 - centroids @ np.stack(vectors).T          # people x reference faces
    limit = profile_for(model.key).name_distance
    matches = _matches(ids.tolist(), names, distance, limit)
    _decide(result, people, matches)
    if apply and result.named:
        with catalog.writer("name"), catalog.transaction():
            before = {"people_before": catalog.people.snapshot(result.named), "faces_before": [],
                      "created_people": []}
            for person, name in result.named.items():
                catalog.people.rename(person, name)
            result.operation_id = record_applied(catalog, "name", {"refs": str(Path(folder).resolve())}, None, [],
                                                 before, summary={"named": len(result.named)})
    return result


def _matches(ids: list[int], names: list[str], distance: np.ndarray, limit: float) -> dict[int, dict[str, float]]:
    """Person -> {name: distance of its centroid to that name's nearest reference face} within `limit`."""
    columns: dict[str, list[int]] = defaultdict(list)
    for col, name in enumerate(names):
        columns[name].append(col)
    found: dict[int, dict[str, float]] = {}
    for name, cols in columns.items():
        nearest = distance[:, cols].min(axis=1)
        for row in np.flatnonzero(nearest <= limit):
            found.setdefault(ids[row], {})[name] = float(nearest[row])
    return found


def _decide(result: RefsResult, people: dict, matches: dict[int, dict[str, float]]) -> None:
    """Name each person that one reference name matches clearly: its nearest name, whose nearest
    person it is, with no other match less than MARGIN farther on either side."""
    named_as = {p.name.casefold(): p.id for p in people.values() if p.name}
    holders: dict[str, dict[int, float]] = defaultdict(dict)
    for person, by_name in matches.items():
        for name, d in by_name.items():
            holders[name][person] = d
    for person, by_name in sorted(matches.items()):
        name = min(by_name, key=by_name.get)
        rivals = [n for n in by_name if n != name and by_name[n] < (1 + MARGIN) * by_name[name]]
        if rivals:
            result.review.append({"reason": "matches several references", "person": person,
                                  "label": people[person].label, "names": sorted(by_name, key=by_name.get)})
            continue
        if min(holders[name], key=holders[name].get) != person or _close(holders[name]):
            continue   # another person is nearer to this name, or as near (listed below)
        if people[person].name == name:
            result.already[person] = name
        elif people[person].name:
            result.review.append({"reason": "already named otherwise", "person": person,
                                  "label": people[person].label, "names": [name]})
        elif named_as.get(name.casefold(), person) != person:
            result.review.append({"reason": "name held by another person", "person": person,
                                  "label": people[person].label, "names": [name]})
        else:
            result.named[person] = name
    for name, holding in sorted(holders.items()):
        if _close(holding):
            near = sorted(holding, key=holding.get)
            result.review.append({"reason": "reference matches several people", "names": [name], "people": near,
                                  "labels": [people[p].label for p in near]})


def _close(distances: dict) -> bool:
    """Whether the runner-up is less than MARGIN farther than the best."""
    ranked = sorted(distances.values())
    return len(ranked) > 1 and ranked[1] < (1 + MARGIN) * ranked[0]
