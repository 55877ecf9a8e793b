"""Scan stage: find photos under source folders and record them in the catalog.

Byte-identical files are hashed once and stored once; every other location is an alias.
A re-run opens only new or changed files (size + mtime, then hash). Paths are stored as
UTF-8 text; `fs_path` turns a stored path back into one the file system accepts.
"""
from facesets.scan.decode import DecodedImage, DecodeError, read_image
from facesets.scan.paths import catalog_path, fs_path
from facesets.scan.walk import ScanStats, iter_image_paths, scan

__all__ = ["DecodedImage", "DecodeError", "ScanStats", "catalog_path", "fs_path", "iter_image_paths",
           "read_image", "scan"]
