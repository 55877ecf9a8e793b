"""XMP face regions, the Metadata Working Group's `mwg-rs:Regions` that digiKam, Lightroom,
Picasa and Apple Photos write and Immich imports: read from a photo's embedded XMP and from its
sidecars (`photo.jpg.xmp` as digiKam writes it, `photo.xmp` as Lightroom does), and written as a
new sidecar. Parsing and writing go through pyexiv2 (Exiv2's XMP toolkit; the `xmp` extra).

A region is a name and an area in the orientation-corrected image, normalised to [0, 1]: the
centre x, y and the width and height (`stArea:unit` normalized). Here a region's box is in the
upright photo's pixels, as every face box of the catalog is.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("facesets")

REGIONS_NS = b"http://www.metadataworkinggroup.com/schemas/regions/"
HEAD_BYTES = 256 * 1024   # embedded XMP sits in the first segments (JPEG APP1, PNG iTXt, HEIC meta)
_ITEM = re.compile(r"^Xmp\.mwg-rs\.Regions/mwg-rs:RegionList\[(\d+)\]/(.+)$")
_ROOT = "Xmp.mwg-rs.Regions"
_EMPTY = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
          b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta><?xpacket end="w"?>')
_LOCK = threading.Lock()   # Exiv2's XMP toolkit is initialised without locks of its own
_warned = False


class XmpUnavailable(RuntimeError):
    """pyexiv2 is not installed (one-line, user-facing)."""


@dataclass(frozen=True)
class Region:
    name: str | None
    box: tuple[float, float, float, float]   # x1, y1, x2, y2 in the upright image's pixels
    source: str                              # the sidecar or photo it was read from


def _pyexiv2():
    try:
        import pyexiv2
    except ImportError:
        raise XmpUnavailable("XMP face regions need pyexiv2: pip install 'facesets[xmp]'") from None
    pyexiv2.set_log_level(4)   # Exiv2's warnings on odd files: silent, a bad region is just skipped
    return pyexiv2


def xmp_readable() -> bool:
    """Whether XMP face regions can be read here (the xmp extra is installed)."""
    try:
        _pyexiv2()
    except XmpUnavailable:
        return False
    return True


def sidecar_names(path: str | os.PathLike) -> list[str]:
    """Where a photo's sidecar may be: `photo.jpg.xmp` (digiKam, darktable) and `photo.xmp`
    (Lightroom), either case."""
    path = os.fspath(path)
    stem = os.path.splitext(path)[0]
    return [path + ".xmp", path + ".XMP", stem + ".xmp", stem + ".XMP"]


def existing_sidecars(path: str | os.PathLike) -> list[str]:
    found, seen = [], set()
    for name in sidecar_names(path):
        try:
            key = os.stat(name).st_ino   # a case-insensitive disk names one file twice
        except OSError:
            continue
        if key not in seen:
            seen.add(key)
            found.append(name)
    return found


def read_regions(path: str | os.PathLike, width: int, height: int, data: bytes | None = None) -> list[Region]:
    """The face regions of a photo of upright size `width` x `height`: its sidecar's when it
    has regions, else its embedded XMP's (`data`: the photo's bytes, already read). A file
    without regions costs a few stats and one read of its head; a malformed packet gives no
    regions."""
    path = os.fspath(path)
    for sidecar in existing_sidecars(path):
        regions = _regions_of(lambda s=sidecar: Path(s).read_bytes(), width, height, sidecar)
        if regions:
            return regions
    if data is not None:
        head = data[:HEAD_BYTES]
    else:
        try:
            with open(path, "rb") as handle:
                head = handle.read(HEAD_BYTES)
        except OSError:
            return []
    if REGIONS_NS not in head:
        return []
    start, end = head.find(b"<x:xmpmeta"), head.find(b"</x:xmpmeta>")
    if 0 <= start < end:
        packet = head[start:end + len(b"</x:xmpmeta>")]
        return _regions_of(lambda: packet, width, height, path)
    return _regions_of(lambda: data if data is not None else Path(path).read_bytes(), width, height,
                       path)   # a packet past the head


def _regions_of(load, width: int, height: int, source: str) -> list[Region]:
    global _warned
    try:
        pyexiv2 = _pyexiv2()
    except XmpUnavailable as exc:
        if not _warned:
            _warned = True
            log.warning(f"{source} has XMP face regions, not read: {exc}")
        return []
    try:
        data = load()
        with _LOCK:
            image = pyexiv2.ImageData(data)
            try:
                xmp = image.read_xmp()
            finally:
                image.close()
    except Exception as exc:  # noqa: BLE001 - malformed XMP: no regions, the photo is still embedded
        log.debug(f"{source}: XMP not readable ({exc})")
        return []
    return parse_regions(xmp, width, height, source)


def parse_regions(xmp: dict, width: int, height: int, source: str = "") -> list[Region]:
    """Face regions of an Exiv2 XMP dictionary (keys like Xmp.mwg-rs.Regions/...[n]/...)."""
    items: dict[int, dict] = {}
    for key, value in xmp.items():
        match = _ITEM.match(key)
        if match:
            items.setdefault(int(match.group(1)), {})[match.group(2)] = value
    regions = []
    for _, fields in sorted(items.items()):
        if _text(fields.get("mwg-rs:Type")) not in (None, "Face"):
            continue   # pets, focus areas, barcodes
        if (_text(fields.get("mwg-rs:Area/stArea:unit")) or "normalized") != "normalized":
            continue
        try:
            x, y, w, h = (float(_text(fields[f"mwg-rs:Area/stArea:{k}"])) for k in "xywh")
        except (KeyError, TypeError, ValueError):
            continue
        if not (w > 0 and h > 0):
            continue
        box = ((x - w / 2) * width, (y - h / 2) * height, (x + w / 2) * width, (y + h / 2) * height)
        regions.append(Region(_text(fields.get("mwg-rs:Name")) or None, box, source))
    return regions


def _text(value) -> str | None:
    """A simple XMP value as text (a language alternative or array gives its first entry)."""
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value).strip()


def regions_packet(faces: list[tuple[str, tuple[float, float, float, float]]], width: int, height: int) -> bytes:
    """A sidecar's bytes (an XMP packet) holding one MWG face region per (name, box in upright
    pixels) of a photo of upright size `width` x `height`."""
    pyexiv2 = _pyexiv2()
    fields = {_ROOT: 'type="Struct"', f"{_ROOT}/mwg-rs:AppliedToDimensions": 'type="Struct"',
              f"{_ROOT}/mwg-rs:AppliedToDimensions/stDim:w": str(int(width)),
              f"{_ROOT}/mwg-rs:AppliedToDimensions/stDim:h": str(int(height)),
              f"{_ROOT}/mwg-rs:AppliedToDimensions/stDim:unit": "pixel",
              f"{_ROOT}/mwg-rs:RegionList": 'type="Bag"'}
    for n, (name, (x1, y1, x2, y2)) in enumerate(faces, start=1):
        item = f"{_ROOT}/mwg-rs:RegionList[{n}]"
        x1, x2 = max(0.0, x1) / width, min(float(width), x2) / width
        y1, y2 = max(0.0, y1) / height, min(float(height), y2) / height
        fields.update({item: 'type="Struct"', f"{item}/mwg-rs:Name": name, f"{item}/mwg-rs:Type": "Face",
                       f"{item}/mwg-rs:Area": 'type="Struct"',
                       f"{item}/mwg-rs:Area/stArea:x": f"{(x1 + x2) / 2:.6f}",
                       f"{item}/mwg-rs:Area/stArea:y": f"{(y1 + y2) / 2:.6f}",
                       f"{item}/mwg-rs:Area/stArea:w": f"{x2 - x1:.6f}",
                       f"{item}/mwg-rs:Area/stArea:h": f"{y2 - y1:.6f}",
                       f"{item}/mwg-rs:Area/stArea:unit": "normalized"})
    with _LOCK:
        image = pyexiv2.ImageData(_EMPTY)
        try:
            image.modify_xmp(fields)
            return image.get_bytes()
        finally:
            image.close()
