"""Per-engine thresholds. Distances from different models are not comparable, so every
threshold the pipeline uses lives here, keyed by the catalog's embedding model.

All distances are cosine distances (1 - cosine similarity) between L2-normalised embeddings.
buffalo_l values come from the proven sort_faces.py tool; the dlib values are calibrated on
shared/data/faces/lfw158 + lfw_singletons (see docs/profiles.md for how).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    # clustering / refine
    cluster_distance: float      # identity cut for the default clustering
    refine_initial: float        # refine: initial clustering distance
    merge_distance: float        # refine: centroid merge of over-split clusters
    outlier_distance: float      # refine: drop faces this far from their cluster centroid
    match_distance: float        # extend / candidates: join a person within this centroid distance
    # review queue (docs/profiles.md): a face in nobody whose nearest person is within
    # review_distance (wider than match_distance) is proposed; its confidence is 0.9 at
    # review_sure and 0.1 at review_distance. Measured for dlib; ArcFace's scaled by match_distance.
    review_sure: float = 0.44
    review_distance: float = 0.69
    # name --refs: a person's centroid within this distance of a reference face may take its name
    # (the mutual-nearest and margin rules in names/refs.py guard the rest). Measured for dlib;
    # ArcFace's keeps dlib's ratio to the match distance.
    name_distance: float = 0.66
    cluster_context: float = 0.3 # weight of neighbour-set overlap blended into the distance
    cluster_merge: float = 0.0   # default clustering: join clusters whose centroids are this close (0: off)
    cluster_size_margin: float = 0.0  # default clustering: cut this much tighter for two single faces
    cluster_stranger: float = 0.0     # default clustering: nearest other-photo face farther: left alone (0: off)
    min_faces: int = 15
    min_short: float = 90.0      # face short edge, original pixels
    min_blur: float = 40.0       # variance of Laplacian at 112 px
    min_det: float = 0.6         # detector score (engine's own scale)
    # export
    export_outlier: float = 0.45
    export_min_short: float = 100.0
    near_duplicate_similarity: float = 0.95
    candidate_min_quality: float = 0.40
    # curation (cosine distances between person centroids: the looser cut bounds uncertain
    # groups, the tighter one marks confident ones; sort_faces.py's similarities 0.55 / 0.65)
    consolidate_edge: float = 0.45
    consolidate_confident: float = 0.35
    age_recover: float = 0.55
    age_tighten: float = 0.50
    age_subcluster: float = 0.35
    age_attach: float = 0.40

    def as_dict(self) -> dict:
        return asdict(self)


BUFFALO_L = Profile(
    name="insightface/buffalo_l",
    cluster_distance=0.55, refine_initial=0.55, merge_distance=0.40, outlier_distance=0.55,
    match_distance=0.55,
)

# dlib's distances are compressed (identity cut near 0.07 on LFW): calibrated on lfw158 +
# lfw_singletons, see docs/profiles.md.
DLIB = Profile(
    name="dlib/resnet_v1",
    # clustering: 0.08 for albums, 0.0725 for two single faces; one-off faces 0.0675 from every
    # other photo's faces stay alone (calibrated on library compositions, docs/profiles.md)
    cluster_distance=0.08, cluster_size_margin=0.0075, cluster_stranger=0.0675,
    refine_initial=0.0725, merge_distance=0.03, outlier_distance=0.045,
    match_distance=0.05, review_sure=0.04, review_distance=0.0625, name_distance=0.06, min_det=0.0, export_outlier=0.04,
    # dlib's HOG boxes are tight (eyebrows to lip): on LFW their short edge is ~0.6 of an
    # SCRFD box on the same face, so the size gates scale by 0.6.
    min_short=54.0, export_min_short=60.0,
    near_duplicate_similarity=0.995, consolidate_edge=0.03, consolidate_confident=0.02,
    age_recover=0.12, age_tighten=0.10, age_subcluster=0.09, age_attach=0.09,
)

PROFILES = {BUFFALO_L.name: BUFFALO_L, DLIB.name: DLIB}


def profile_for(model_key: str | None) -> Profile:
    """The profile of an embedding model key such as 'insightface/buffalo_l/w600k_r50.onnx'."""
    if not model_key:
        return BUFFALO_L
    if model_key.startswith("dlib/"):
        return DLIB
    for name, profile in PROFILES.items():
        if model_key.startswith(name):
            return profile
    return replace(BUFFALO_L, name=model_key)  # other ArcFace packs: buffalo_l's scale
