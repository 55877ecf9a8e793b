"""Clustering parameters edited on the settings page, stored in the catalog (meta 'cluster_params',
JSON) so `facesets cluster` and the re-cluster button read the same values. Defaults come from
the engine's profile; a parameter the user never touched is not stored."""
from __future__ import annotations

import dataclasses
import json

from facesets.catalog import Catalog
from facesets.profiles import profile_for

META_KEY = "cluster_params"
EXPORT_TARGETS = ("roop", "folders")

# (name, help) of the profile values clustering reads; the desktop tool's "advanced settings"
KNOWN = [
    ("cluster_distance", "identity cut: faces closer than this (cosine distance) may share a person"),
    ("refine_initial", "refine: distance of its first, strict clustering"),
    ("merge_distance", "refine: merge over-split people whose centroids are this close"),
    ("outlier_distance", "refine: leave out faces this far from their person's centroid"),
    ("match_distance", "extend / suggestions: join a person within this centroid distance"),
    ("min_faces", "smallest person that becomes a faceset"),
    ("min_short", "smallest face (short edge, original pixels)"),
    ("min_blur", "least sharpness (variance of the Laplacian at 112 px)"),
    ("min_det", "least detector score"),
]


def stored(catalog: Catalog) -> dict:
    try:
        value = json.loads(catalog.get_meta(META_KEY) or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _extra_fields() -> list[tuple[str, object, str]]:
    """Parameters the cluster module declares itself (a ClusterParams dataclass), if it does."""
    try:
        from facesets import cluster as module
    except ImportError:
        return []
    params = getattr(module, "ClusterParams", None)
    if params is None or not dataclasses.is_dataclass(params):
        return []
    out = []
    for f in dataclasses.fields(params):
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, (int, float, str, bool)) or default is None:
            out.append((f.name, default, ""))
    return out


def fields(catalog: Catalog) -> list[dict]:
    model = catalog.embedding_model()
    profile = profile_for(model.key if model else None).as_dict()
    values = stored(catalog)
    rows, seen = [], set()
    for name, default, help_text in [(n, profile.get(n), h) for n, h in KNOWN] + _extra_fields():
        if name in seen:
            continue
        seen.add(name)
        rows.append({"name": name, "default": default, "value": values.get(name, default), "help": help_text,
                     "changed": name in values})
    for name, value in values.items():
        if name not in seen:
            rows.append({"name": name, "default": None, "value": value, "help": "", "changed": True})
    return rows


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
