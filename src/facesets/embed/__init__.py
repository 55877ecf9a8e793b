"""Embed stage: detect, align and embed every face of every pending file in the catalog."""
from facesets.embed.dask_driver import ClusterError
from facesets.embed.pipeline import ClusterOptions, EmbedOptions, EmbedResult, embed, embed_pending

__all__ = ["ClusterError", "ClusterOptions", "EmbedOptions", "EmbedResult", "embed", "embed_pending"]
