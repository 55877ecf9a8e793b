"""Importing existing face sets (roop `.fsz` bundles, folders of crops) as imported people."""
from facesets.importer.archive import ImportRefused, check_archive
from facesets.importer.sources import ImportResult, discover, group_key, import_sources, managed_root

__all__ = ["ImportRefused", "ImportResult", "check_archive", "discover", "group_key", "import_sources",
           "managed_root"]
