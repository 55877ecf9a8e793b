"""Catalog integrity: find what a crash, a lost disk or a hand edit left inconsistent, and
repair it without ever deleting a user decision.

User decisions are people's names, merges (`people.merged_into`), removals
(`face_exclusions`) and faces assigned by the user or an import. A repair may re-attach,
restore or re-queue; it never drops one of those. Every check is a pair: `find` returns
the affected rows, `repair` fixes exactly those rows in one short transaction.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from facesets.catalog import Catalog
from facesets.media.paths import fs_path

PLACEHOLDER_SOURCE = "restored by facesets doctor"
NORM_TOLERANCE = 1e-3


@dataclass
class Finding:
    check: str
    problem: str                 # one line: what is wrong
    count: int
    repair: str                  # one line: what --repair does (or why it does not)
    repairable: bool = True
    examples: list[str] = field(default_factory=list)
    repaired: int = 0


@dataclass
class DoctorReport:
    catalog: str
    findings: list[Finding]
    repaired: bool = False

    @property
    def healthy(self) -> bool:
        return not self.findings

    @property
    def outstanding(self) -> list[Finding]:
        """Findings still wrong after this run (all of them unless repaired)."""
        if not self.repaired:
            return self.findings
        return [f for f in self.findings if not f.repairable or f.repaired < f.count]

    def as_dict(self) -> dict:
        return {"catalog": self.catalog, "healthy": self.healthy, "repaired": self.repaired,
                "findings": [asdict(f) for f in self.findings]}


@dataclass
class _Check:
    name: str
    find: Callable[[Catalog], list]
    describe: Callable[[list], tuple[str, str, bool]]   # rows -> (problem, repair, repairable)
    repair: Callable[[Catalog, list], int] | None
    example: Callable[[object], str] = str


# -- the checks -------------------------------------------------------------------------

def _sqlite_find(cat: Catalog) -> list:
    return cat.integrity.quick_check()


def _orphan_faces_find(cat: Catalog) -> list:
    return cat.integrity.orphan_face_files()


def _orphan_faces_repair(cat: Catalog, rows: list) -> int:
    cat.integrity.recreate_missing_files(rows, "file record was lost; faces kept by facesets doctor")
    return len(rows)


def _orphan_aliases_find(cat: Catalog) -> list:
    return cat.integrity.orphan_aliases()


def _delete_aliases(cat: Catalog, rows: list) -> int:
    cat.integrity.delete_aliases(alias_id for alias_id, _ in rows)
    return len(rows)


def _missing_people_find(cat: Catalog) -> list:
    return cat.integrity.missing_people()


def _missing_people_repair(cat: Catalog, rows: list) -> int:
    cat.integrity.recreate_people(rows, PLACEHOLDER_SOURCE)
    return len(rows)


def _dangling_exclusions_find(cat: Catalog) -> list:
    return cat.integrity.dangling_exclusions()


def _missing_sources_find(cat: Catalog) -> list:
    """Files and aliases whose path is gone from disk (files already marked missing excluded)."""
    found = []
    for file_id, path, sha in cat.integrity.present_files():
        if not os.path.lexists(fs_path(path)):
            found.append(("file", file_id, path, sha))
    for alias_id, path in cat.integrity.all_aliases():
        if not os.path.lexists(fs_path(path)):
            found.append(("alias", alias_id, path, None))
    return found


def _missing_sources_repair(cat: Catalog, rows: list) -> int:
    known = cat.integrity.known_content_count()
    gone = sum(1 for kind, _, _, sha in rows if kind == "file" and sha is not None)
    if known and gone == known:
        return 0  # every source is gone: an unmounted disk, not a deletion; leave it as it is
    done = 0
    with cat.transaction():
        for kind, row_id, _path, sha in rows:
            if kind == "alias":
                cat.files.delete_alias(row_id)
            elif sha is None:  # an error record without content: only the reason is lost
                cat.files.forget_if_faceless(row_id)
            elif not cat.files.promote_alias(row_id, usable=lambda path: os.path.lexists(fs_path(path))):
                cat.files.mark_missing(row_id)  # no other copy of the same bytes is still there
            done += 1
    return done


def _no_model_find(cat: Catalog) -> list:
    if cat.get_meta("embedding_model") is not None:
        return []
    return cat.integrity.model_face_counts()


def _no_model_repair(cat: Catalog, rows: list) -> int:
    _, engine, model, _ = rows[0]
    with cat.transaction():
        cat.set_meta("embedding_model", f"{engine}/{model}")
    return len(rows)


def _bad_embeddings_find(cat: Catalog) -> list:
    """Faces whose embedding does not belong to the catalog's model: another engine/model,
    wrong length, not finite, or not unit length."""
    model = cat.embedding_model()
    if model is None:
        return []
    same = cat.integrity.model_ids(model.engine, model.model)
    bad = []
    for face_id, file_id, model_id, blob, user in cat.integrity.embeddings_to_check():
        reason = _embedding_problem(model_id, blob, same, model.dim)
        if reason:
            bad.append((face_id, file_id, reason, user))
    return bad


def _embedding_problem(model_id: int, blob: bytes | None, same_model: set[int], dim: int) -> str | None:
    if model_id not in same_model:
        return "other model"
    if blob is None or len(blob) != dim * 4:
        return "wrong length"
    vector = np.frombuffer(blob, dtype=np.float32)
    if not np.isfinite(vector).all():
        return "not finite"
    if abs(float(np.linalg.norm(vector)) - 1.0) > NORM_TOLERANCE:
        return "not unit length"
    return None


def _bad_embeddings_repair(cat: Catalog, rows: list) -> int:
    """Faces without a user decision are dropped and their photo re-queued for embedding;
    faces carrying one are kept as they are (reported, never deleted)."""
    free = [r for r in rows if not r[3]]
    cat.integrity.drop_faces_and_requeue(r[0] for r in free)
    return len(free)


def _faceless_done_find(cat: Catalog) -> list:
    return cat.integrity.faceless_done()


def _faceless_done_repair(cat: Catalog, rows: list) -> int:
    with cat.transaction():
        cat.files.requeue(file_id for file_id, _ in rows)
    return len(rows)


def _stale_runs_find(cat: Catalog) -> list:
    if cat.writer_active():
        return []
    return cat.runs.running()


def _stale_runs_repair(cat: Catalog, rows: list) -> int:
    with cat.transaction():
        cat.runs.mark_interrupted(r.id for r in rows)
    return len(rows)


def _merge_cycles_find(cat: Catalog) -> list:
    parents = cat.integrity.merge_links()
    cyclic = []
    for start in parents:
        seen, node = set(), start
        while node in parents and node not in seen:
            seen.add(node)
            node = parents[node]
        if node == start:
            cyclic.append(start)
    return cyclic


def _stale_centroids_find(cat: Catalog) -> list:
    return cat.integrity.stale_centroids()


def _stale_centroids_repair(cat: Catalog, rows: list) -> int:
    cat.integrity.recompute_centroids(rows)
    return len(rows)


CHECKS: list[_Check] = [
    _Check("sqlite", _sqlite_find,
           lambda r: ("SQLite reports damage", "not repairable here: restore a backup or use sqlite3 .recover", False),
           None),
    _Check("orphan_faces", _orphan_faces_find,
           lambda r: (f"faces point at {len(r)} file record(s) that no longer exist",
                      "re-create those file records, marked missing; faces and their people are kept", True),
           _orphan_faces_repair, lambda r: f"file id {r}"),
    _Check("orphan_aliases", _orphan_aliases_find,
           lambda r: (f"{len(r)} alias(es) point at no file", "forget them; the next scan finds the copies again", True),
           _delete_aliases, lambda r: r[1]),
    _Check("missing_people", _missing_people_find,
           lambda r: (f"faces, merges or removals refer to {len(r)} person record(s) that no longer exist",
                      "re-create those people (unnamed) so every assignment, merge and removal is kept", True),
           _missing_people_repair, lambda r: f"person id {r}"),
    _Check("dangling_exclusions", _dangling_exclusions_find,
           lambda r: (f"{len(r)} removal(s) refer to faces that no longer exist",
                      "kept: removals are user decisions and harmless", False),
           None, lambda r: f"face {r[0]} from person {r[1]}"),
    _Check("missing_sources", _missing_sources_find,
           lambda r: (f"{len(r)} source path(s) are gone from disk",
                      "mark the photos missing (their faces and people are kept; a later scan that finds them "
                      "again restores them), forget vanished copies; nothing is changed if every source is gone", True),
           _missing_sources_repair, lambda r: f"{r[0]} {r[2]}"),
    _Check("no_embedding_model", _no_model_find,
           lambda r: ("faces exist but the catalog does not name its embedding model",
                      f"record {r[0][1]}/{r[0][2]} (the model of most faces)", True),
           _no_model_repair, lambda r: f"{r[1]}/{r[2]}: {r[3]} faces"),
    _Check("embedding_model_mismatch", _bad_embeddings_find,
           lambda r: (f"{len(r)} face(s) hold embeddings that do not match the catalog's model "
                      f"({', '.join(sorted({x[2] for x in r}))})",
                      "drop those faces and re-queue their photos for embedding; faces carrying a user "
                      "decision are kept as they are", not any(x[3] for x in r)),
           _bad_embeddings_repair, lambda r: f"face {r[0]}: {r[2]}" + (" (user decision, kept)" if r[3] else "")),
    _Check("faceless_done", _faceless_done_find,
           lambda r: (f"{len(r)} photo(s) are marked embedded with faces but hold none",
                      "re-queue them for embedding", True),
           _faceless_done_repair, lambda r: r[1]),
    _Check("stale_runs", _stale_runs_find,
           lambda r: (f"{len(r)} run(s) still marked running but no facesets process holds the catalog",
                      "mark them interrupted", True),
           _stale_runs_repair, lambda r: f"run {r.id} {r.command} started {r.started_at}"),
    _Check("merge_cycles", _merge_cycles_find,
           lambda r: (f"{len(r)} people are merged into each other in a cycle",
                      "not repaired automatically: merges are user decisions; un-merge one of them", False),
           None, lambda r: f"person {r}"),
    # last: the repairs above may move faces (re-created people, dropped faces)
    _Check("stale_centroids", _stale_centroids_find,
           lambda r: (f"{len(r)} person centroid(s) stored in the catalog disagree with the faces they hold",
                      "recompute them from the faces", True),
           _stale_centroids_repair, lambda r: f"person id {r}"),
]


def diagnose(catalog: Catalog, repair: bool = False, max_examples: int = 5) -> DoctorReport:
    """Run every check; with `repair`, fix what can be fixed (the caller holds the writer lock)."""
    report = DoctorReport(str(catalog.path), [], repaired=repair)
    for check in CHECKS:
        rows = check.find(catalog)
        if not rows:
            continue
        problem, action, repairable = check.describe(rows)
        finding = Finding(check.name, problem, len(rows), action, repairable,
                          [check.example(r) for r in rows[:max_examples]])
        if repair and check.repair is not None:
            finding.repaired = check.repair(catalog, rows)
        report.findings.append(finding)
    return report
