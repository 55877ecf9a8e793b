"""Scan stage: find photos under source folders and record them in the catalog.

A re-run opens only new or changed files (size + mtime). Their bytes are read once, by embed's
per-file work, and `scan.content.resolve` decides at commit what they are: byte-identical files
are stored once, every other location is an alias.
"""
from facesets.scan.content import FileJob, Found, resolve
from facesets.scan.walk import ScanStats, iter_image_paths, scan

__all__ = ["FileJob", "Found", "ScanStats", "iter_image_paths", "resolve", "scan"]
