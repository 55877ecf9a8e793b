"""Source paths as the catalog stores them: always valid UTF-8 text, always reversible.

Linux file names are bytes. Python hands undecodable ones to us as strings holding lone
surrogates (PEP 383), which SQLite TEXT cannot store. Such a path is stored as
``bytes:`` + the path with every undecodable byte written ``\\xNN`` and every backslash
doubled; every other path is stored exactly as it is. Paths in the catalog are absolute,
so the prefix never collides with a real path. `fs_path` turns either form back into
the string that `open()` and `os.stat()` accept.
"""
from __future__ import annotations

import os
import re

from facesets.catalog.files import MISSING_MARK  # a vanished file's freed path ends so

ESCAPED_PREFIX = "bytes:"
_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2})")


def catalog_path(path: str | os.PathLike | bytes) -> str:
    """The text the catalog stores for a file-system path."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    path = os.fspath(path)
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    raw = os.fsencode(path).replace(b"\\", b"\\\\")
    return ESCAPED_PREFIX + raw.decode("utf-8", "backslashreplace")


def fs_path(text: str | os.PathLike) -> str:
    """The file-system path (surrogate-escaped str) for catalog text; plain paths pass through."""
    text = os.fspath(text)
    if MISSING_MARK in text:
        text = text.split(MISSING_MARK, 1)[0]
    if not text.startswith(ESCAPED_PREFIX):
        return text
    body = text[len(ESCAPED_PREFIX):]
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(body):
        out += body[position:match.start()].encode("utf-8")
        token = match.group(1)
        out += b"\\" if token == "\\" else bytes([int(token[1:], 16)])
        position = match.end()
    out += body[position:].encode("utf-8")
    return os.fsdecode(bytes(out))

