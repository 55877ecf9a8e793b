"""`facesets age-split PERSON`: one person's faces split into era sets (a younger and an older self).

seed centroid → wide recovery of the person's (and unassigned) faces within `age_recover` →
quality gate → re-centroid and tighten to `age_tighten` → average-linkage sub-clusters at
`age_subcluster` → EXIF year per photo (files.taken_at) → sub-clusters with >= anchor_min faces
are era anchors; a smaller fragment attaches to its single nearest anchor only if the centroid
distance is <= `age_attach` AND the years are <= max_years apart; anchors never merge. Labels come
from each bucket's dominant years (collisions get `_v2`), or its ages when the person has a birth
date ('age 3–7'); eras are ordered by median date, and a bucket under `min_era` faces goes to
`_thin/`. Era sets are people with parent_id = the person.
"""
from __future__ import annotations

import datetime

import numpy as np

from facesets.catalog import Catalog, FaceDetail, FaceFilter, Person
from facesets.curate import tree
from facesets.curate.core import CurationError, Proposal, profile_of

DASH = "–"
MAX_YEARS, MIN_ERA, MIN_SHORT = 5, 20, 0.0


def find_person(catalog: Catalog, person: str) -> Person:
    """A person by number, name or label (person_012), followed through merges."""
    found = catalog.people.find(person)
    if found is None:
        raise CurationError(f"no person {person!r} in this catalog")
    return found


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _year(taken_at: str | None) -> int | None:
    try:
        return int(str(taken_at)[:4]) if taken_at else None
    except ValueError:
        return None


def _passes(face: FaceDetail, min_quality: float, min_short: float) -> bool:
    """The quality gate: composite quality where enrich scored the face, and the face size."""
    if face.quality is not None and face.quality < min_quality:
        return False
    return float(face.short_edge or 0) >= min_short


def era_label(years: list[int]) -> str:
    """The dominant years of a bucket: the 10th to 90th percentile, 'YYYY–YYYY' (or 'undated')."""
    if not years:
        return "undated"
    lo, hi = (int(round(v)) for v in np.percentile(years, [10, 90]))
    return f"{lo}" if lo == hi else f"{lo}{DASH}{hi}"


def age_label(ages: list[int]) -> str:
    """A bucket named by the person's age instead (a birth date is set): 'age 3–7' (or 'undated')."""
    return "undated" if not ages else f"age {era_label(ages)}"


def age_at(birth_date: str | None, taken_at: str | None) -> int | None:
    """Whole years of age on a photo's date (ISO dates); None when either is unknown or the
    photo predates the birth."""
    try:
        born = datetime.date.fromisoformat(str(birth_date)[:10])
        taken = datetime.date.fromisoformat(str(taken_at)[:10])
    except (TypeError, ValueError):
        return None
    age = taken.year - born.year - ((taken.month, taken.day) < (born.month, born.day))
    return age if age >= 0 else None


def subclusters(matrix: np.ndarray, cut: float) -> list[list[int]]:
    from scipy.cluster.hierarchy import fcluster, linkage   # scipy here: the CLI starts 0.25 s sooner
    from scipy.spatial.distance import pdist

    if len(matrix) == 1:
        return [[0]]
    labels = fcluster(linkage(np.clip(pdist(matrix, "cosine"), 0, 2), method="average"), t=cut, criterion="distance")
    groups: dict[int, list[int]] = {}
    for index, cluster in enumerate(labels):
        groups.setdefault(int(cluster), []).append(index)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def buckets(matrix: np.ndarray, years: list[int | None], clusters: list[list[int]], anchor_min: int,
            attach: float, max_years: int) -> tuple[list[dict], list[dict]]:
    """Anchors (with the fragments attached to them) and standalone fragments."""
    def info(members):
        ys = [years[m] for m in members if years[m] is not None]
        return {"members": list(members), "centroid": _normalise(matrix[members].mean(axis=0)),
                "year": float(np.median(ys)) if ys else None}
    anchors = [info(c) for c in clusters if len(c) >= anchor_min]
    fragments = [info(c) for c in clusters if len(c) < anchor_min]
    for anchor in anchors:
        anchor["attached"] = []
    standalone = []
    for fragment in fragments:
        best, best_distance = None, None
        for anchor in anchors:
            distance = float(1 - fragment["centroid"] @ anchor["centroid"])
            if best_distance is None or distance < best_distance:
                best, best_distance = anchor, distance
        fragment["nearest_distance"] = best_distance
        years_ok = (best is None or fragment["year"] is None or best["year"] is None
                    or abs(fragment["year"] - best["year"]) <= max_years)
        if best is not None and best_distance <= attach and years_ok:
            best["attached"].append(fragment)   # anchors' centroids are not re-centred
        else:
            fragment["why"] = ("no anchor" if best is None else
                               f"nearest anchor {best_distance:.3f} > {attach}" if best_distance > attach else
                               f"{abs(fragment['year'] - best['year']):.0f} years from the nearest anchor")
            standalone.append(fragment)
    return anchors, standalone


def analyze(catalog: Catalog, root, person: str, *, recover: float | None = None, tighten: float | None = None,
            subcluster: float | None = None, attach: float | None = None, max_years: int = MAX_YEARS,
            anchor_min: int | None = None, min_era: int = MIN_ERA, min_quality: float | None = None,
            min_short: float = MIN_SHORT) -> Proposal:
    """Plan era sets of one person (`person`: number, name or label) from the faces near it.

    Distances are cosine distances between embeddings; None takes the catalog's profile:
    `recover` (age_recover) from the seed centroid, `tighten` (age_tighten) from the re-centred
    centre, `subcluster` (age_subcluster) average-linkage cut, `attach` (age_attach) from a
    fragment's centroid to an anchor's. `max_years` (5): a fragment attaches only to an anchor
    within this many years; `anchor_min` (10% of the kept faces, at least 5): faces of an era
    anchor; `min_era` (20): eras with fewer faces go to `_thin/`; quality gate: `min_quality`
    (composite quality in [0, 1], default the profile's candidate_min_quality) and
    `min_short` (face short edge in original pixels, 0). `root`: the export tree (None: none)."""
    profile = profile_of(catalog)
    recover = profile.age_recover if recover is None else recover
    tighten = profile.age_tighten if tighten is None else tighten
    subcluster = profile.age_subcluster if subcluster is None else subcluster
    attach = profile.age_attach if attach is None else attach
    min_quality = profile.candidate_min_quality if min_quality is None else min_quality
    parent = find_person(catalog, person)
    pid = parent.id
    if parent.parent_id is not None:
        raise CurationError(f"{parent.label} is already an era set of person {parent.parent_id}")
    if catalog.people.eras_of(pid):
        raise CurationError(f"{parent.label} is already split into eras: use `facesets age-extend` for new faces, "
                            "or `facesets undo` first")
    _, seeds = catalog.people.centroids([pid], gated=True)
    if not len(seeds):
        raise CurationError(f"person {parent.label} holds no faces")
    ids, matrix = catalog.faces.embeddings(FaceFilter(people=(pid,), unassigned=True, excluding_removed_from=pid))
    recovered = (1 - matrix @ seeds[0]) <= recover
    rows = catalog.faces.details(ids[recovered])
    gated = np.array([bool(recovered[i]) and _passes(rows[int(f)], min_quality, min_short) for i, f in enumerate(ids)])
    if gated.sum() < 1:
        raise CurationError(f"no face of {parent.label} passes the quality gate")
    centre = _normalise(matrix[gated].mean(axis=0))
    kept = gated & ((1 - matrix @ centre) <= tighten)
    kept_ids, kept_matrix = ids[kept], matrix[kept]
    if len(kept_ids) == 0:
        raise CurationError(f"no face of {parent.label} within {tighten} of its centre")
    years = [_year(rows[int(f)].taken_at) for f in kept_ids]
    born = catalog.people.facts(pid).birth_date
    ages = [age_at(born, rows[int(f)].taken_at) for f in kept_ids] if born else None
    anchor_min = anchor_min or max(5, int(round(0.1 * len(kept_ids))))
    anchors, standalone = buckets(kept_matrix, years, subclusters(kept_matrix, subcluster), anchor_min,
                                  attach, max_years)
    sets = [{"members": a["members"] + [m for f in a["attached"] for m in f["members"]], "anchor": True,
             "attached": len(a["attached"])} for a in anchors]
    sets += [{"members": f["members"], "anchor": False, "why": f["why"]} for f in standalone]
    for s in sets:
        dates = sorted(rows[int(kept_ids[m])].taken_at for m in s["members"] if rows[int(kept_ids[m])].taken_at)
        s["median_date"] = dates[len(dates) // 2] if dates else "9999"
        s["era"] = (age_label([ages[m] for m in s["members"] if ages[m] is not None]) if ages
                    else era_label([years[m] for m in s["members"] if years[m] is not None]))
    sets.sort(key=lambda s: (s["median_date"], -len(s["members"])))
    exported = tree.faceset_of(root, pid, catalog)
    parent_folder = exported.label if exported else parent.label
    used: dict[str, int] = {}
    actions, groups = [], []
    for s in sets:
        era = s["era"]
        used[era] = used.get(era, 0) + 1
        if used[era] > 1:
            era = f"{era}_v{used[era]}"
        faces = sorted((int(kept_ids[m]) for m in s["members"]), key=lambda f: (-rows[f].composite, f))
        name = tree.safe_label(f"{parent.label}_{era.replace(DASH, '-')}")
        folder = tree.safe_label(f"{parent_folder}_{era.replace(DASH, '-')}")
        thin = len(faces) < min_era
        actions.append({"type": "create_era", "parent": pid, "parent_label": parent.label, "era": era,
                        "name": name, "folder": folder, "faces": faces, "thin": thin, "anchor": s["anchor"]})
        groups.append({"kind": "era", "era": era, "name": name, "thin": thin, "anchor": s["anchor"],
                       "faces": faces, "median_date": s["median_date"], "why": s.get("why"),
                       "title": f"{name}: {len(faces)} faces, {'anchor' if s['anchor'] else 'fragment'}"
                                f"{' + %d fragments' % s['attached'] if s.get('attached') else ''}"
                                f"{' → _thin/' if thin else ''}{' (' + s['why'] + ')' if s.get('why') else ''}",
                       "items": [{"image": rows[f].path, "caption": f"face {f} {rows[f].taken_at or 'undated'}"}
                                 for f in faces[:60]]})
    return Proposal(groups=groups, actions=actions, summary={
        "person": pid, "label": parent.label, "recovered": int(recovered.sum()), "gated": int(gated.sum()),
        "kept": int(len(kept_ids)), "anchors": len(anchors), "fragments_standalone": len(standalone),
        "eras": sum(1 for a in actions if not a["thin"]), "thin": sum(1 for a in actions if a["thin"]),
        "anchor_min": anchor_min, "min_era": min_era})


def extend(catalog: Catalog, root, person: str, *, tighten: float | None = None, attach: float | None = None,
           max_years: int = MAX_YEARS, min_quality: float | None = None, min_short: float = MIN_SHORT) -> Proposal:
    """`facesets age-extend`: the person's faces not yet in an era (new photos) join the single
    nearest existing era by the split's rule (distance <= attach AND years <= max_years apart);
    era centroids are taken as they are, never re-centred by the faces joining them.

    Cosine distances, None taking the catalog's profile: `tighten` (age_tighten) from the
    family's centre, `attach` (age_attach) from an era's centroid; `max_years` (5) years; the
    quality gate as in `analyze` (`min_quality` default candidate_min_quality, `min_short` 0 px)."""
    profile = profile_of(catalog)
    tighten = profile.age_tighten if tighten is None else tighten
    attach = profile.age_attach if attach is None else attach
    min_quality = profile.candidate_min_quality if min_quality is None else min_quality
    parent = find_person(catalog, person)
    pid = parent.id
    eras = {p.id: p for p in catalog.people.eras_of(pid)}
    era_ids, centroids = catalog.people.centroids(list(eras))
    if not len(era_ids):
        raise CurationError(f"{parent.label} has no era sets yet: run `facesets age-split analyze` first")
    era_years = {}
    for era in era_ids:
        years = [y for y in map(_year, catalog.faces.taken_at_of_person(int(era))) if y is not None]
        era_years[int(era)] = float(np.median(years)) if years else None
    family = _normalise(centroids.mean(axis=0))
    ids, matrix = catalog.faces.embeddings(FaceFilter(people=(pid,), excluding_removed_from=pid))
    rows = catalog.faces.details(ids)
    joined: dict[int, list[int]] = {}
    left: list[dict] = []
    for face, vector in zip(ids, matrix):
        row = rows[int(face)]
        if not _passes(row, min_quality, min_short) or float(1 - vector @ family) > tighten:
            continue
        distances = 1 - centroids @ vector
        nearest = int(np.argmin(distances))
        era = int(era_ids[nearest])
        year, era_year = _year(row.taken_at), era_years[era]
        if distances[nearest] <= attach and (year is None or era_year is None or abs(year - era_year) <= max_years):
            joined.setdefault(era, []).append(int(face))
        else:
            left.append({"image": row.path, "caption": f"face {face} stays: nearest era {eras[era].era} "
                                                      f"at {distances[nearest]:.3f}, {row.taken_at or 'undated'}"})
    actions, groups = [], []
    for era, faces in sorted(joined.items()):
        faces.sort(key=lambda f: (-rows[f].composite, f))
        info = eras[era]
        faceset = tree.faceset_of(root, era, catalog)
        actions.append({"type": "extend_era", "person": era, "name": info.label, "era": info.era,
                        "folder": faceset.label if faceset else None, "faces": faces})
        groups.append({"kind": "era", "era": info.era, "name": info.label, "faces": faces,
                       "title": f"{info.label}: +{len(faces)} faces",
                       "items": [{"image": rows[f].path, "caption": f"face {f} {rows[f].taken_at or 'undated'}"}
                                 for f in faces]})
    if left:
        groups.append({"kind": "left", "title": f"{len(left)} faces join no era", "items": left})
    return Proposal(groups=groups, actions=actions, summary={
        "person": pid, "label": parent.label, "eras": len(era_ids),
        "joined": sum(len(a["faces"]) for a in actions), "left": len(left)})
