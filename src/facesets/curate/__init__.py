"""Curation passes over the catalog and the export tree: planned, reviewable, undoable.

Each pass (dedup, consolidate, prune, occlusion, age_split) only proposes groups and actions;
`core` stores plans, applies them with a journal and undoes them.
"""
from facesets.curate.core import CurationError, Proposal, analyze, apply, load_plan, undo

__all__ = ["CurationError", "Proposal", "analyze", "apply", "load_plan", "undo"]
