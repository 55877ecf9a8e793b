"""Names in and out of the library: `tag` writes every named face as an XMP face region (MWG)
for digiKam, Lightroom and Immich; `refs` names people from a folder of reference photos.
Both are journaled operations: `facesets undo` reverts the last one."""
from facesets.names.refs import RefsResult, name_from_refs, reference_photos
from facesets.names.tag import TagResult, tag

__all__ = ["RefsResult", "TagResult", "name_from_refs", "reference_photos", "tag"]
