"""The clustering stages, each a function from catalog state to catalog state (plus an
optional photo tree written from the catalog):

- `cluster`: every face clustered by identity into people (numbers kept across runs);
- `refine`: refine's clustering, then quality gate, outlier rejection and size filter that
  decide which faces make up each person's faceset (faces.gate, people.faceset);
- `extend`: faces embedded since the last clustering join the nearest person or found new ones.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..catalog import AssignedBy, Catalog, CatalogError, FaceFilter, FileStatus
from ..profiles import profile_for
from .assign import people_from_labels
from .graph import knn_of, label_groups
from .params import ClusterParams, default_algorithm, refine_algorithm
from .tree import folder_name, write_photo_tree


def cluster_params(catalog: Catalog, overrides: dict | None = None) -> ClusterParams:
    """The profile's defaults, then the catalog's saved settings, then this run's overrides."""
    model = catalog.embedding_model()
    if model is None:
        raise CatalogError("the catalog holds no embeddings yet: run `facesets embed` first")
    saved = json.loads(catalog.get_meta("cluster_params", "{}") or "{}")
    return ClusterParams.from_profile(profile_for(model.key), {**saved, **(overrides or {})})


def _provenance(catalog: Catalog, command: str, params: ClusterParams, run_id: int) -> dict:
    model = catalog.embedding_model()
    return {"command": command, "run": run_id, "engine": model.engine, "model": model.model,
            "detector": model.detector, "profile": profile_for(model.key).name,
            "parameters": params.as_dict()}


def cluster(catalog: Catalog, out: str | os.PathLike | None = None, link: str = "copy",
            params: dict | None = None, progress=None) -> dict:
    """Cluster every face by identity into people and optionally write OUT/person_NNN/."""
    p = cluster_params(catalog, params)
    with catalog.stage("cluster", {**p.as_dict(), "out": str(out) if out else None}) as run:
        run_id, stats = run.id, run.stats
        ids, X, files, current, kept = catalog.faces.cluster_input()
        labels = default_algorithm(catalog_profile(catalog), p).fit(X, files, progress=progress).labels_ \
            if len(ids) else np.zeros(0, np.int64)
        stats.update(people_from_labels(catalog, ids, labels, current, kept, run_id))
        stats["faces"] = int(len(ids))
        if out is not None:
            catalog.set_meta("cluster_out", str(Path(out).resolve()))
            stats.update(write_cluster_tree(catalog, out, link, _provenance(catalog, "cluster", p, run_id),
                                            progress))
    return stats


def catalog_profile(catalog: Catalog):
    return profile_for(catalog.embedding_model().key)


def refine(catalog: Catalog, out: str | os.PathLike | None = None, link: str = "copy",
           params: dict | None = None, progress=None, recluster: bool = True) -> dict:
    """Refine's clustering (initial cut + centroid merge), then gate faces and pick facesets."""
    p = cluster_params(catalog, params)
    with catalog.stage("refine", {**p.as_dict(), "out": str(out) if out else None}) as run:
        run_id, stats = run.id, run.stats
        if recluster:
            ids, X, files, current, kept = catalog.faces.cluster_input()
            labels = refine_algorithm(p).fit(X, files, progress=progress).labels_ \
                if len(ids) else np.zeros(0, np.int64)
            stats.update(people_from_labels(catalog, ids, labels, current, kept, run_id, by="refine"))
        stats.update(gate_people(catalog, p))
        if out is not None:
            catalog.set_meta("refine_out", str(Path(out).resolve()))
            stats.update(write_faceset_tree(catalog, out, link, _provenance(catalog, "refine", p, run_id),
                                            progress))
    return stats


def gate_people(catalog: Catalog, p: ClusterParams) -> dict:
    """Quality gate, then outlier rejection against the centroid (people of 4+ faces), then
    the size filter. Verdicts go to faces.gate (NULL: in the faceset) and people.faceset."""
    faces = catalog.faces.gate_input()
    reasons = np.full(len(faces.ids), None, dtype=object)
    reasons[faces.det_score < p.min_det] = "detector"
    reasons[faces.sharpness < p.min_blur] = "blur"          # NaN (unknown) compares False
    reasons[faces.short_edge < p.min_short] = "small"       # the first failing gate names it
    facesets = []
    for members in label_groups(faces.people):
        person = faces.people[members[0]]
        good = members[reasons[members] == None]  # noqa: E711 - elementwise on an object array
        if len(good) >= 4:
            E = faces.X[good]
            centroid = E.mean(axis=0)
            centroid /= max(np.linalg.norm(centroid), 1e-12)
            reasons[good[1.0 - E @ centroid > p.outlier_distance]] = "outlier"
        if sum(reasons[m] is None for m in members) >= p.min_faces:
            facesets.append(int(person))
    verdicts = dict(zip(faces.ids.tolist(), reasons.tolist()))
    with catalog.transaction():
        catalog.faces.set_gates(verdicts)
        catalog.people.set_facesets(facesets)
    counts: dict[str, int] = {}
    for v in verdicts.values():
        counts[v or "kept"] = counts.get(v or "kept", 0) + 1
    return {"facesets": len(facesets), "gate": counts}


def extend(catalog: Catalog, out: str | os.PathLike | None = None, link: str = "copy",
           params: dict | None = None, progress=None) -> dict:
    """Faces embedded since the last clustering join the nearest person (centroid within the
    profile's match distance; never a person the user removed them from, never two faces of
    one photo) or, among themselves and earlier singletons, found new people."""
    p = cluster_params(catalog, params)
    with catalog.stage("extend", p.as_dict()) as run:
        run_id, stats = run.id, run.stats
        new_ids, X, files, _, _ = catalog.faces.cluster_input(FaceFilter(unassigned=True, new_only=True))
        person_ids, centroids = catalog.people.centroids(gated=True)
        excluded = catalog.people.exclusions_of(new_ids.tolist())
        joined: dict[int, int] = {}
        taken: set[tuple[int, int]] = set()   # (photo, person) joined in this run: cannot-link
        if len(new_ids) and len(person_ids):
            nearest, distance = knn_of(centroids, X, 5)
            for row in np.argsort(distance[:, 0], kind="stable"):  # most confident first
                for col, d in zip(nearest[row], distance[row]):
                    person, photo = int(person_ids[col]), int(files[row])
                    if d > p.match_distance:
                        break
                    if ((int(new_ids[row]), person) in excluded or (photo, person) in taken
                            or catalog.faces.person_in_photo(photo, person)):
                        continue
                    joined[int(new_ids[row])] = person
                    taken.add((photo, person))
                    break
        catalog.people.place(joined.items(), AssignedBy.EXTEND, run_id)
        stats["joined"] = len(joined)
        # the rest cluster among themselves and with the earlier unassigned faces near them
        rest = catalog.faces.cluster_input(FaceFilter(unassigned=True))
        algorithm = default_algorithm(catalog_profile(catalog), p)
        near = algorithm.around(rest.X, np.isin(rest.ids, new_ids))
        rest_ids, R, rest_files, current, kept = (column[near] for column in rest)
        if len(rest_ids):
            labels = algorithm.fit(R, rest_files).labels_
            result = people_from_labels(catalog, rest_ids, labels, current, kept, run_id, by="extend")
            stats["people_created"] = result["people_created"]
            stats["unassigned"] = result["unassigned"]
        stats["new_faces"] = int(len(new_ids))
        cluster_out = catalog.get_meta("cluster_out")
        target = out or cluster_out
        if target:
            stats.update(write_cluster_tree(catalog, target, link, _provenance(catalog, "extend", p, run_id),
                                            progress))
        if catalog.get_meta("refine_out"):
            stats.update({"refine_" + k: v for k, v in gate_people(catalog, p).items()})
            write_faceset_tree(catalog, catalog.get_meta("refine_out"), link,
                               _provenance(catalog, "extend", p, run_id), progress)
    return stats


def write_cluster_tree(catalog: Catalog, out, link: str, provenance: dict, progress=None) -> dict:
    """OUT/person_NNN/ (every photo of that person, aliases too), _singletons/, _noface/."""
    groups, people_rows = _person_folders(catalog, "person", catalog.people.active(), in_faceset_only=False)
    extra = {"_singletons": catalog.files.done_without_people(),
             "_noface": catalog.files.ids_with_status(FileStatus.NOFACE)}
    return write_photo_tree(catalog, out, groups, extra, "manifest.json", provenance, link, people_rows, progress)


def write_faceset_tree(catalog: Catalog, out, link: str, provenance: dict, progress=None) -> dict:
    """OUT/faceset_NNN/: the photos of each faceset's kept faces, with refine_manifest.json."""
    facesets = [p for p in catalog.people.active() if p.faceset]
    groups, people_rows = _person_folders(catalog, "faceset", facesets, in_faceset_only=True)
    return write_photo_tree(catalog, out, groups, {}, "refine_manifest.json", provenance, link,
                            people_rows, progress)


def _person_folders(catalog: Catalog, prefix: str, chosen, in_faceset_only: bool):
    """Folder name -> photo ids of each chosen person's faces, and folder name -> person."""
    rows = {p.id: p for p in chosen}
    groups: dict[str, list[int]] = {}
    people_rows = {}
    for person_id, file_id in catalog.faces.person_photos(in_faceset_only):
        if person_id in rows:
            name = folder_name(rows[person_id], prefix)
            groups.setdefault(name, []).append(file_id)
            people_rows[name] = rows[person_id]
    return groups, people_rows
