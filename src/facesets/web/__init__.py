"""The browser UI (`facesets serve`): people grid, person pages, unsorted faces, find by photo,
export and settings, all over the catalog."""
from facesets.web.app import create_app

__all__ = ["create_app"]
