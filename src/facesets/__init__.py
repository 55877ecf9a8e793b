"""facesets: sort a photo library by face identity and export clean per-person face sets.

The library is the product; the CLI (`facesets.cli`) and the web UI are thin layers over it.

    from facesets import Catalog, embed
    with Catalog.open("lib.db") as cat:
        embed(cat, ["~/Pictures"])
"""
from facesets.catalog import Catalog, CatalogError
from facesets.embed import embed

__version__ = "0.1.0"
__all__ = ["Catalog", "CatalogError", "embed", "__version__"]
