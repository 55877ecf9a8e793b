"""Curation passes over the catalog and the export tree: planned, reviewable, undoable.

Each pass (dedup, consolidate, prune, occlusion, age_split) only proposes groups and actions;
`core` stores plans, applies them with a journal and undoes them. The modules that own an action
type register it (`actions`); importing them here makes every type known before a plan applies.
"""
from facesets.curate import age_split, consolidate, dedup, era_sets, occlusion, prune, tree_actions
from facesets.curate.core import CurationError, Proposal, analyze, apply, load_plan, undo

__all__ = ["CurationError", "Proposal", "age_split", "analyze", "apply", "consolidate", "dedup", "era_sets",
           "load_plan", "occlusion", "prune", "tree_actions", "undo"]
