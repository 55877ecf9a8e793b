"""Importing face sets someone already has: roop `.fsz` bundles and folders of crops.

Each bundle or folder becomes one person marked `imported`, so consolidate, prune, age-split
and the web UI work on an existing tree. Bundles are extracted (after `check_archive`) into a
managed folder beside the catalog, `<catalog stem>_imports/<bundle>/`; folders are read in
place. Both are embedded in `crops` mode. Importing the same thing again changes nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from facesets.catalog import KEPT_ASSIGNMENTS, AssignedBy, Catalog, FileStatus
from facesets.config import IMAGE_EXTENSIONS
from facesets.engines import EngineOptions, FaceEngine
from facesets.importer.archive import ImportRefused, check_archive, extract_members, open_bundle, read_manifest
from facesets.outputs import IMPORTS_MARK, mark_own, safe_component, staged_dir, write_json
from facesets.media.hashing import sha256_file
from facesets.media.paths import catalog_path

BUNDLE_SUFFIXES = (".fsz", ".zip")
MARKER = ".import.json"           # in each managed folder: which bundle it holds
_VARIANT = re.compile(r"_(top\d+|all)$", re.IGNORECASE)   # export writes <label>_top30 / <label>_all
_NUMBERED = re.compile(r"^(?:person|faceset)_\d+(?:_(.+))?$")  # another catalog's numbers mean nothing here

ProgressHook = Callable[[str, int, int | None], None]


@dataclass
class Source:
    kind: str                      # 'bundle' | 'folder'
    path: Path                     # absolute
    label: str                     # the faceset's name: stem without _top30/_all
    crops: list[Path] = field(default_factory=list)
    origins: dict[str, dict] = field(default_factory=dict)   # crop file name -> origin JSON
    members: list = field(default_factory=list)               # bundles: checked members

    @property
    def key(self) -> str:
        return group_key(str(self.path))


@dataclass
class ImportResult:
    run_id: int | None = None
    sources: int = 0
    crops: int = 0
    assigned: int = 0
    kept_elsewhere: int = 0        # faces a user (or an earlier import) placed with someone else
    no_face: int = 0
    multi_face: int = 0
    people: list[dict] = field(default_factory=list)
    embed: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def group_key(path: str) -> str:
    """Sources of one faceset share this: `X_top30.fsz`, `X_all.fsz` and folder `X/` are X."""
    path = os.path.normpath(path)
    stem = path[: -len(os.path.splitext(path)[1])] if path.lower().endswith(BUNDLE_SUFFIXES) else path
    return _VARIANT.sub("", stem)


def managed_root(catalog: Catalog) -> Path:
    return catalog.path.with_name(f"{catalog.path.stem}_imports")


def discover(paths: Iterable[str | os.PathLike], depth: int = 3) -> list[Source]:
    """Bundles and crop folders under `paths`. A folder holding images is one faceset (its
    subfolders, such as _dropped, are not); a folder without images is looked into."""
    found: list[Source] = []
    for raw in paths:
        path = Path(os.path.abspath(os.path.expanduser(os.fspath(raw))))
        if path.is_file():
            if path.suffix.lower() not in BUNDLE_SUFFIXES:
                raise ImportRefused(f"{path}: not a .fsz bundle or a folder of face crops")
            found.append(Source("bundle", path, _label(path)))
        elif path.is_dir():
            found.extend(_discover_dir(path, depth))
        else:
            raise ImportRefused(f"no such file or folder: {path}")
    return found


def _discover_dir(path: Path, depth: int) -> list[Source]:
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as exc:
        raise ImportRefused(f"{path}: cannot list ({exc.strerror or exc})") from None
    crops = [Path(e.path) for e in entries
             if e.is_file() and not e.name.startswith(".") and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS]
    if crops:
        return [Source("folder", path, _label(path), crops=crops)]
    found: list[Source] = []
    if depth <= 0:
        return found
    for entry in entries:
        if entry.name.startswith((".", "_")):
            continue  # hidden, staging, _dropped/_masked/_merged/_thin
        if entry.is_file() and entry.name.lower().endswith(BUNDLE_SUFFIXES):
            found.append(Source("bundle", Path(entry.path), _label(Path(entry.path))))
        elif entry.is_dir(follow_symlinks=False):
            found.extend(_discover_dir(Path(entry.path), depth - 1))
    return found


def _label(path: Path) -> str:
    return os.path.basename(group_key(str(path))) or "imported"


def import_sources(catalog: Catalog, sources: Iterable[str | os.PathLike],
                   engine_options: EngineOptions | None = None, progress: ProgressHook | None = None,
                   engine: FaceEngine | None = None) -> ImportResult:
    """Import bundles and crop folders as imported people. Every bundle is checked before
    anything is written; one refused bundle refuses the whole import (ImportRefused)."""
    from facesets.embed import EmbedOptions, embed

    engine_options = _catalog_engine(catalog, engine_options)
    items = discover(sources)
    if not items:
        raise ImportRefused("nothing to import: no .fsz bundle or folder of face crops found")
    for item in items:  # check everything first: a refusal writes nothing
        if item.kind == "bundle":
            with open_bundle(item.path) as archive:
                item.members = check_archive(archive, item.path.name)
                if not item.members:
                    raise ImportRefused(f"{item.path.name}: holds no images")
        else:
            item.origins = _origins(_load_json(item.path / "manifest.json"), {p.name: p.name for p in item.crops})
    with catalog.writer("import"):   # extraction, embedding and assignment: one writer throughout
        for n, item in enumerate(items):
            if item.kind == "bundle":
                _extract(catalog, item)
            if progress:
                progress("import", 1, len(items) if n == 0 else None)
        crops = [str(p) for item in items for p in item.crops]
        embedded = embed(catalog, crops, engine=engine, engine_options=engine_options,
                         options=EmbedOptions(input_mode="crops"), progress=progress)
        result = ImportResult(sources=len(items), crops=len(crops), embed=embedded.as_dict())
        with catalog.stage("import", {"sources": [str(i.path) for i in items]}) as run:
            result.run_id, run.stats = run.id, result
            _assign(catalog, items, result)
    return result


def _catalog_engine(catalog: Catalog, options: EngineOptions | None) -> EngineOptions | None:
    """`auto` means the catalog's own engine once it has one: imported crops must be embedded
    by the model the rest of the library was."""
    model = catalog.embedding_model()
    if model is None or (options is not None and options.engine != "auto"):
        return options
    from dataclasses import replace
    options = options or EngineOptions()
    if model.engine == "insightface":
        return replace(options, engine="insightface", pack=model.model.split("/")[0])
    return replace(options, engine=model.engine)


def _extract(catalog: Catalog, item: Source) -> None:
    """Put a checked bundle's images into its managed folder, unless that folder already
    holds exactly this bundle."""
    digest = sha256_file(item.path)
    root = managed_root(catalog)
    name = safe_component(item.path.stem, "bundle")
    folder = root / name
    marker = _load_json(folder / MARKER)
    if marker is not None and marker.get("source") != str(item.path):
        folder = root / f"{name}-{hashlib.sha256(str(item.path).encode('utf-8', 'surrogateescape')).hexdigest()[:6]}"
        marker = _load_json(folder / MARKER)
    with open_bundle(item.path) as archive:
        if not (marker and marker.get("sha256") == digest and
                all((folder / m.target).is_file() for m in item.members)):
            root.mkdir(parents=True, exist_ok=True)
            with staged_dir(folder) as staging:
                extract_members(archive, item.members, staging, item.path.name)
                write_json(staging / MARKER, {"source": str(item.path), "sha256": digest,
                                              "members": {m.target: m.info.filename for m in item.members}})
            if not (root / IMPORTS_MARK).exists():
                mark_own(root, IMPORTS_MARK)   # the scan never reads it as a library source
        item.origins = _origins(read_manifest(archive), {m.info.filename.rsplit("/", 1)[-1]: m.target
                                                         for m in item.members}) or _sibling_origins(item)
    item.crops = [folder / m.target for m in item.members]


def _sibling_origins(item: Source) -> dict[str, dict]:
    """An exported `X_all.fsz` has no manifest, but the export wrote `X/manifest.json` beside it:
    use it for the members whose bytes are that folder's crop of the same name (CRC checked)."""
    folder = Path(group_key(str(item.path)))
    manifest = _load_json(folder / "manifest.json")
    if manifest is None:
        return {}
    same = {}
    for member in item.members:
        name = member.info.filename.rsplit("/", 1)[-1]
        try:
            if zlib.crc32((folder / name).read_bytes()) == member.info.CRC:
                same[name] = member.target
        except OSError:
            continue
    return _origins(manifest, same)


def _load_json(path: Path):
    try:
        if path.is_file() and path.stat().st_size <= 16 * 1024 ** 2:
            return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return None


_FILE_KEYS = ("file", "crop", "name", "filename", "image", "out", "output", "target")
_PHOTO_KEYS = ("source", "original", "photo", "source_path", "src", "path")
_BOX_KEYS = ("box", "bbox", "face_box")


def _origins(manifest, names: dict[str, str]) -> dict[str, dict]:
    """Crop file name -> {"photo", "box", ...} from a manifest, when it names them.

    Tolerant of the shapes face-set manifests come in: a list of entries, or a dict holding
    one under faces/items/files/crops/entries, or a dict keyed by crop file name."""
    if manifest is None:
        return {}
    entries = manifest
    if isinstance(manifest, dict):
        for key in ("faces", "items", "files", "crops", "entries", "images"):
            if isinstance(manifest.get(key), (list, dict)):
                entries = manifest[key]
                break
    if isinstance(entries, dict):
        entries = [{"file": k, **v} for k, v in entries.items() if isinstance(v, dict)]
    if not isinstance(entries, list):
        return {}
    origins: dict[str, dict] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        crop = next((entry[k] for k in _FILE_KEYS if isinstance(entry.get(k), str)), None)
        photo = next((entry[k] for k in _PHOTO_KEYS if isinstance(entry.get(k), str) and entry[k] != crop), None)
        box = next((entry[k] for k in _BOX_KEYS if isinstance(entry.get(k), (list, dict))), None)
        if crop is None or photo is None:
            continue
        target = names.get(os.path.basename(crop.replace("\\", "/")))
        if target is None:
            continue
        origin = {"photo": photo}
        if box is not None:
            origin["box"] = box
        for extra in ("sha256", "face_id", "quality"):
            if extra in entry:
                origin[extra] = entry[extra]
        origins[target] = origin
    return origins


def _person_for(catalog: Catalog, item: Source, run_id: int, cache: dict[str, int]) -> int:
    """The imported person of this faceset: found again by its source, or created."""
    if item.key in cache:
        return cache[item.key]
    for person_id, source in catalog.people.imported_sources():
        if group_key(source) == item.key:
            person_id = catalog.people.resolve(person_id)
            break
    else:
        person_id = catalog.people.create(name=person_name(item.label), run_id=run_id, imported=True,
                                          source=str(item.path))
    cache[item.key] = person_id
    return person_id


def person_name(label: str) -> str | None:
    """faceset_007_Ada -> 'Ada'; faceset_007 / person_012 -> None (numbered anew here); else the label."""
    match = _NUMBERED.match(label)
    return (match.group(1) or None) if match else label


def _assign(catalog: Catalog, items: list[Source], result: ImportResult) -> None:
    """Faces of each source go to its person; a user's placement or exclusion is kept."""
    cache: dict[str, int] = {}
    excluded = catalog.people.exclusions()
    with catalog.transaction():
        for item in items:
            person_id = _person_for(catalog, item, result.run_id, cache)
            summary = {"person_id": person_id, "label": item.label, "source": str(item.path),
                       "crops": len(item.crops), "assigned": 0}
            to_assign = []
            for crop in item.crops:
                file_id = catalog.files.id_for_path(catalog_path(str(crop)))
                record = catalog.files.get(file_id) if file_id else None
                face = catalog.faces.first_of_file(file_id) if file_id else None
                several = record is not None and record.status == FileStatus.MULTIFACE   # kept: its largest face
                result.multi_face += int(several)
                if face is None:
                    result.no_face += int(not several)
                    continue
                face_id, face_person, assigned_by = face
                origin = item.origins.get(crop.name)
                if origin is not None:
                    catalog.faces.set_origin(face_id, origin)
                if face_person == person_id:
                    summary["assigned"] += 1
                elif (face_id, person_id) in excluded or (
                        face_person is not None and assigned_by in KEPT_ASSIGNMENTS):
                    result.kept_elsewhere += 1
                else:
                    to_assign.append(face_id)
            catalog.people.assign(to_assign, person_id, AssignedBy.IMPORT, result.run_id)
            summary["assigned"] += len(to_assign)
            result.assigned += summary["assigned"]
            result.people.append(summary)
