"""facesets: sort a photo library by face identity and export clean per-person face sets.

The library is the product; the CLI (`facesets.cli`) and the web UI are thin layers over it.

    import facesets

    with facesets.open("library.db") as lib:
        lib.embed(["~/Pictures"])
        lib.cluster()
        print([(p.label, p.n_faces) for p in lib.people()])

See `facesets.api` for every call. Names load on first use, so `import facesets` stays light.
"""
import logging

from facesets.config import VERSION

__version__ = VERSION

logging.getLogger("facesets").addHandler(logging.NullHandler())

_API = {"open", "run", "load_engine", "faces_in", "distance", "Library", "DetectedFace"}
_CATALOG = {"Catalog", "CatalogError", "Person", "Face"}


def __getattr__(name: str):
    if name in _API:
        from facesets import api
        return getattr(api, name)
    if name in _CATALOG:
        from facesets import catalog
        return getattr(catalog, name)
    raise AttributeError(f"module 'facesets' has no attribute {name!r}")


__all__ = sorted(_API | _CATALOG | {"__version__"})
