"""Identity clustering: `cluster`, `refine`, `extend` over the catalog, and the algorithms
(facesets' default and the baselines it is measured against) with scikit-learn's `fit` shape."""
from .algorithms import GraphAverageLinkage
from .baselines import AverageLinkage, CosineDBSCAN, ImmichIncremental
from .params import ClusterParams, default_algorithm
from .stages import cluster, cluster_params, extend, gate_people, refine

__all__ = ["cluster", "refine", "extend", "gate_people", "cluster_params",
           "ClusterParams", "default_algorithm", "GraphAverageLinkage", "AverageLinkage",
           "CosineDBSCAN", "ImmichIncremental"]
