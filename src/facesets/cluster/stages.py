"""The clustering stages, each a function from catalog state to catalog state (plus an
optional photo tree written from the catalog):

- `cluster`: every face clustered by identity into people (numbers kept across runs);
- `refine`: refine's clustering, then quality gate, outlier rejection and size filter that
  decide which faces make up each person's faceset (faces.gate, people.faceset);
- `extend`: faces embedded since the last clustering join the nearest person or found new ones.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from .. import people
from ..catalog import Catalog, CatalogError
from ..profiles import profile_for
from .assign import load_faces, people_from_labels
from .params import ClusterParams, default_algorithm, refine_algorithm
from .tree import folder_name, write_photo_tree


def cluster_params(catalog: Catalog, overrides: dict | None = None) -> ClusterParams:
    """The profile's defaults, then the catalog's saved settings, then this run's overrides."""
    model = catalog.embedding_model()
    if model is None:
        raise CatalogError("the catalog holds no embeddings yet: run `facesets embed` first")
    saved = json.loads(catalog.get_meta("cluster_params", "{}") or "{}")
    return ClusterParams.from_profile(profile_for(model.key), {**saved, **(overrides or {})})


@contextlib.contextmanager
def _stage(catalog: Catalog, command: str, params: ClusterParams, extra: dict | None = None):
    catalog.acquire_writer_lock(command)
    run_id = catalog.start_run(command, {**params.as_dict(), **(extra or {})})
    stats: dict = {}
    try:
        yield run_id, stats
    except KeyboardInterrupt:
        catalog.finish_run(run_id, "interrupted", stats)
        raise
    except BaseException:
        catalog.finish_run(run_id, "failed", stats)
        raise
    else:
        catalog.finish_run(run_id, "done", stats)
    finally:
        catalog.release_writer_lock()


def _provenance(catalog: Catalog, command: str, params: ClusterParams, run_id: int) -> dict:
    model = catalog.embedding_model()
    return {"command": command, "run": run_id, "engine": model.engine, "model": model.model,
            "detector": model.detector, "profile": profile_for(model.key).name,
            "parameters": params.as_dict()}


def cluster(catalog: Catalog, out: str | os.PathLike | None = None, link: str = "copy",
            params: dict | None = None, progress=None) -> dict:
    """Cluster every face by identity into people and optionally write OUT/person_NNN/."""
    p = cluster_params(catalog, params)
    with _stage(catalog, "cluster", p, {"out": str(out) if out else None}) as (run_id, stats):
        ids, X, files, current, kept = load_faces(catalog)
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
    with _stage(catalog, "refine", p, {"out": str(out) if out else None}) as (run_id, stats):
        if recluster:
            ids, X, files, current, kept = load_faces(catalog)
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
    rows = catalog.conn.execute(
        "SELECT id, person_id, short_edge, sharpness, det_score, embedding FROM faces "
        "WHERE person_id IS NOT NULL ORDER BY person_id, id").fetchall()
    verdicts: dict[int, str | None] = {}
    by_person: dict[int, list] = {}
    for r in rows:
        reason = None
        if r["short_edge"] < p.min_short:
            reason = "small"
        elif r["sharpness"] is not None and r["sharpness"] < p.min_blur:
            reason = "blur"
        elif r["det_score"] < p.min_det:
            reason = "detector"
        verdicts[r["id"]] = reason
        by_person.setdefault(r["person_id"], []).append(r)
    facesets = []
    for person, members in by_person.items():
        good = [r for r in members if verdicts[r["id"]] is None]
        if len(good) >= 4:
            E = np.frombuffer(b"".join(r["embedding"] for r in good), np.float32).reshape(len(good), -1)
            centroid = E.mean(axis=0)
            centroid /= max(np.linalg.norm(centroid), 1e-12)
            for r, d in zip(good, 1.0 - E @ centroid):
                if d > p.outlier_distance:
                    verdicts[r["id"]] = "outlier"
        if sum(verdicts[r["id"]] is None for r in members) >= p.min_faces:
            facesets.append(person)
    with catalog.transaction() as conn:
        conn.executemany("UPDATE faces SET gate = ? WHERE id = ?", [(v, f) for f, v in verdicts.items()])
        conn.execute("UPDATE people SET faceset = 0")
        conn.executemany("UPDATE people SET faceset = 1 WHERE id = ?", [(f,) for f in facesets])
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
    with _stage(catalog, "extend", p) as (run_id, stats):
        new_ids, X, files, _, _ = load_faces(catalog, "faces.clustered_run IS NULL AND faces.person_id IS NULL")
        person_ids, centroids = people.person_centroids(catalog, gated=True)
        excluded = people.exclusions(catalog.conn)
        joined: dict[int, int] = {}
        photo_of = dict(zip(new_ids.tolist(), files.tolist()))
        if len(new_ids) and len(person_ids):
            sims = X @ centroids.T
            for row in np.argsort(-sims.max(axis=1)):  # most confident first
                for col in np.argsort(-sims[row])[:5]:
                    person = int(person_ids[col])
                    if 1.0 - sims[row, col] > p.match_distance:
                        break
                    if (int(new_ids[row]), person) in excluded or _photo_taken(catalog, files[row], person, joined, photo_of):
                        continue
                    joined[int(new_ids[row])] = person
                    break
        with catalog.transaction() as conn:
            for face_id, person in joined.items():
                people.assign_faces(conn, [face_id], person, "extend", run_id)
        stats["joined"] = len(joined)
        # the rest cluster among themselves and with the earlier unassigned faces near them
        rest = load_faces(catalog, "faces.person_id IS NULL")
        algorithm = default_algorithm(catalog_profile(catalog), p)
        near = algorithm.around(rest[1], np.isin(rest[0], new_ids))
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


def _photo_taken(catalog: Catalog, file_id: int, person: int, joined: dict, photo_of: dict) -> bool:
    """Whether another face of this photo is already in `person` (cannot-link)."""
    row = catalog.conn.execute("SELECT 1 FROM faces WHERE file_id = ? AND person_id = ? LIMIT 1",
                               (int(file_id), person)).fetchone()
    if row:
        return True
    return any(p == person and photo_of[f] == file_id for f, p in joined.items())


def write_cluster_tree(catalog: Catalog, out, link: str, provenance: dict, progress=None) -> dict:
    """OUT/person_NNN/ (every photo of that person, aliases too), _singletons/, _noface/."""
    rows = {r["id"]: r for r in people.active_people(catalog)}
    groups: dict[str, list[int]] = {}
    people_rows = {}
    for r in catalog.conn.execute("SELECT person_id, file_id FROM faces WHERE person_id IS NOT NULL"):
        if r[0] in rows:
            name = folder_name(rows[r[0]], "person")
            groups.setdefault(name, []).append(r[1])
            people_rows[name] = rows[r[0]]
    singles = [r[0] for r in catalog.conn.execute(
        "SELECT files.id FROM files WHERE files.status = 'done' AND NOT EXISTS "
        "(SELECT 1 FROM faces WHERE faces.file_id = files.id AND faces.person_id IS NOT NULL)")]
    noface = [r[0] for r in catalog.conn.execute("SELECT id FROM files WHERE status = 'noface'")]
    return write_photo_tree(catalog, out, groups, {"_singletons": singles, "_noface": noface},
                            "manifest.json", provenance, link, people_rows, progress)


def write_faceset_tree(catalog: Catalog, out, link: str, provenance: dict, progress=None) -> dict:
    """OUT/faceset_NNN/: the photos of each faceset's kept faces, with refine_manifest.json."""
    rows = {r["id"]: r for r in people.active_people(catalog) if r["faceset"]}
    groups: dict[str, list[int]] = {}
    people_rows = {}
    for r in catalog.conn.execute("SELECT person_id, file_id FROM faces WHERE person_id IS NOT NULL "
                                  "AND gate IS NULL"):
        if r[0] in rows:
            name = folder_name(rows[r[0]], "faceset")
            groups.setdefault(name, []).append(r[1])
            people_rows[name] = rows[r[0]]
    return write_photo_tree(catalog, out, groups, {}, "refine_manifest.json", provenance, link,
                            people_rows, progress)
