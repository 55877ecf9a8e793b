"""Enrich stage: dense landmarks, head pose and composite quality of the faces of people."""
from facesets.enrich.pipeline import enrich
from facesets.enrich.quality import COMPONENTS, WEIGHTS, face_quality, score_faces

__all__ = ["COMPONENTS", "WEIGHTS", "enrich", "face_quality", "score_faces"]
