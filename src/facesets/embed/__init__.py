"""Embed stage: detect, align and embed every face of every pending file in the catalog."""
from facesets.embed.pipeline import EmbedOptions, EmbedResult, embed, embed_pending

__all__ = ["EmbedOptions", "EmbedResult", "embed", "embed_pending"]
