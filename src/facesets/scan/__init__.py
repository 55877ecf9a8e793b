"""Scan stage: find photos under source folders and record them in the catalog.

Byte-identical files are hashed once and stored once; every other location is an alias.
A re-run opens only new or changed files (size + mtime, then hash).
"""
from facesets.scan.walk import ScanStats, iter_image_paths, scan

__all__ = ["ScanStats", "iter_image_paths", "scan"]
