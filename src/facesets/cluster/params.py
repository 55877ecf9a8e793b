"""Clustering parameters in one place: the engine profile's defaults, overridable per run
(CLI options, the web UI's settings page, catalog meta 'cluster_params')."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from ..profiles import Profile
from .algorithms import GraphAverageLinkage


@dataclass(frozen=True)
class ClusterParams:
    distance: float            # identity cut (cosine distance, average linkage)
    merge_distance: float      # join over-split clusters whose centroids are this close
    k: int = 30                # neighbours per face in the kNN graph
    context: float = 0.3       # weight of neighbour-set overlap blended into the distance
    size_margin: float = 0.0   # the cut is this much tighter for two single faces (0: one cut)
    stranger: float = 0.0      # a face farther than this from every other photo's faces stays alone (0: off)
    # refine
    refine_initial: float = 0.55
    refine_merge: float = 0.40
    outlier_distance: float = 0.55
    min_faces: int = 15
    min_short: float = 90.0
    min_blur: float = 40.0
    min_det: float = 0.6
    # extend
    match_distance: float = 0.55

    @classmethod
    def from_profile(cls, profile: Profile, overrides: dict | None = None) -> "ClusterParams":
        params = cls(distance=profile.cluster_distance, merge_distance=profile.cluster_merge,
                     context=profile.cluster_context, size_margin=profile.cluster_size_margin,
                     stranger=profile.cluster_stranger,
                     refine_initial=profile.refine_initial, refine_merge=profile.merge_distance,
                     outlier_distance=profile.outlier_distance, min_faces=profile.min_faces,
                     min_short=profile.min_short, min_blur=profile.min_blur, min_det=profile.min_det,
                     match_distance=profile.match_distance)
        return params.updated(overrides or {})

    def updated(self, overrides: dict) -> "ClusterParams":
        known = {f.name: f.type for f in fields(self)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ValueError(f"unknown clustering parameter(s): {', '.join(sorted(unknown))}")
        values = {k: (int(v) if k in ("k", "min_faces") else float(v))
                  for k, v in overrides.items() if v is not None}
        return replace(self, **values)

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


def default_algorithm(profile: Profile, params: ClusterParams | None = None) -> GraphAverageLinkage:
    """facesets' default clustering for an engine profile."""
    params = params or ClusterParams.from_profile(profile)
    return GraphAverageLinkage(distance=params.distance, k=params.k, context=params.context,
                               merge_distance=params.merge_distance or None,
                               size_margin=params.size_margin, stranger_distance=params.stranger or None)


def refine_algorithm(params: ClusterParams) -> GraphAverageLinkage:
    """refine's initial clustering (sort_faces.py: agglomerative at 0.55, centroid merge at 0.40)."""
    return GraphAverageLinkage(distance=params.refine_initial, k=params.k, context=params.context,
                               merge_distance=params.refine_merge or None)
