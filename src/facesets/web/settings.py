"""Clustering parameters edited on the settings page, stored in the catalog (meta 'cluster_params',
JSON) so `facesets cluster` and the re-cluster button read the same values. Defaults come from
the engine's profile; a parameter the user never touched is not stored."""
from __future__ import annotations

import json

from facesets.catalog import Catalog
from facesets.profiles import profile_for

META_KEY = "cluster_params"
EXPORT_TARGETS = ("roop", "folders")

# (ClusterParams field, help): the desktop tool's "advanced settings"
KNOWN = [
    ("distance", "identity cut: faces closer than this (cosine distance) may share a person"),
    ("merge_distance", "join over-split people whose centroids are this close"),
    ("k", "neighbours per face in the clustering graph"),
    ("refine_initial", "refine: distance of its first, strict clustering"),
    ("refine_merge", "refine: merge over-split people whose centroids are this close"),
    ("outlier_distance", "refine: leave out faces this far from their person's centroid"),
    ("min_faces", "smallest person that becomes a faceset"),
    ("min_short", "smallest face (short edge, original pixels)"),
    ("min_blur", "least sharpness (variance of the Laplacian at 112 px)"),
    ("min_det", "least detector score"),
    ("match_distance", "extend / suggestions: join a person within this centroid distance"),
]


def stored(catalog: Catalog) -> dict:
    try:
        value = json.loads(catalog.get_meta(META_KEY) or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def defaults(catalog: Catalog) -> dict:
    """Every parameter's default for this catalog's engine, as clustering's own ClusterParams
    derives it from the engine's profile (it decides)."""
    from facesets.cluster.params import ClusterParams

    model = catalog.embedding_model()
    return ClusterParams.from_profile(profile_for(model.key if model else None)).as_dict()


def validate(catalog: Catalog, params: dict) -> None:
    """Refuse what clustering would refuse (unknown names, bad values), before it is stored."""
    from facesets.cluster.params import ClusterParams

    model = catalog.embedding_model()
    ClusterParams.from_profile(profile_for(model.key if model else None), params)


def fields(catalog: Catalog) -> list[dict]:
    base = defaults(catalog)
    values = stored(catalog)
    help_text = dict(KNOWN)
    return [{"name": name, "default": default, "value": values.get(name, default), "help": help_text.get(name, ""),
             "changed": name in values} for name, default in base.items()]


def parse(catalog: Catalog, form) -> dict:
    """The submitted values that differ from the defaults, typed like the defaults."""
    params = {}
    for row in fields(catalog):
        raw = form.get(row["name"])
        if raw is None:
            continue
        raw = str(raw).strip()
        if raw == "":
            continue
        value = _typed(raw, row["default"], row["name"])
        if value != row["default"]:
            params[row["name"]] = value
    validate(catalog, params)
    return params


def _typed(raw: str, default, name: str):
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float) or default is None:
            number = float(raw)
            return int(number) if default is None and number.is_integer() and "." not in raw else number
    except ValueError:
        if default is None:
            return raw
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    return raw
