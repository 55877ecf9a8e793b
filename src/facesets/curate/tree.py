"""The export tree as curation sees it: facesets, their crops, and reversible file steps.

Every change a pass makes to the tree is one of two journaled steps, so undo can replay them
backwards exactly: `move` (a file or folder into `_dropped/`, `_masked/`, `_merged/`, `_thin/`)
and `write` (a new file; whatever stood at that path is first moved aside under `_dropped/`).
Nothing is ever deleted, except by undo removing a file that apply itself wrote.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from facesets.media.bundles import bundle_names, bundle_size, bundles_of, fsz_bytes, json_bytes
from facesets.media.hashing import sha256_bytes, sha256_file
from facesets.outputs import inside, safe_component

QUARANTINES = ("_dropped", "_masked", "_merged", "_thin")
DEFAULT_TOP_N = 30   # export --top-n default: the size of a new era set's top bundle


@dataclass
class Crop:
    file: str                 # file name inside the faceset folder, e.g. '3.png'
    face_id: int | None
    entry: dict               # its record in the faceset manifest


@dataclass
class Faceset:
    label: str
    folder: Path
    person_id: int | None
    crops: list[Crop] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)


class TreeError(RuntimeError):
    """The export tree is missing or not as the plan expects (one-line, user-facing)."""


def export_root(catalog, override: str | os.PathLike | None = None) -> Path | None:
    """The tree to curate: `override`, else the latest export recorded in the catalog."""
    if override:
        return Path(override).resolve()
    latest = catalog.exports.latest()
    return Path(latest.out).resolve() if latest else None


def crop_file(entry: dict, index: int) -> str:
    for key in ("file", "png", "name", "crop"):
        if entry.get(key):
            return Path(str(entry[key])).name
    return f"{entry.get('rank', index)}.png"


def _person_of(manifest: dict, folder: str, labels: dict) -> int | None:
    person = manifest.get("person_id", manifest.get("person"))
    if isinstance(person, dict):
        person = person.get("id")
    if person is None:
        person = labels.get(folder)
    return int(person) if person is not None else None


def load_facesets(root: Path | None, catalog=None, under: str = "") -> list[Faceset]:
    """Every faceset folder under `root` (one with a manifest.json; quarantines skipped)."""
    base = root / under if root is not None and under else root
    if base is None or not base.is_dir():
        return []
    labels = {}
    if catalog is not None:
        from facesets.cluster.tree import folder_name
        for person in catalog.people.all():
            labels[person.label] = person.id
            labels[folder_name(person, "faceset")] = person.id
    found = []
    for folder in sorted(base.iterdir()):
        if not folder.is_dir() or folder.name.startswith(("_", ".")) or not (folder / "manifest.json").is_file():
            continue
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        name = f"{under}/{folder.name}" if under else folder.name
        faceset = Faceset(name, folder, _person_of(manifest, folder.name, labels), manifest=manifest)
        for index, entry in enumerate(manifest.get("faces", [])):
            file = crop_file(entry, index)
            if (folder / file).is_file():
                face = entry.get("face_id")
                faceset.crops.append(Crop(file, int(face) if face is not None else None, entry))
        found.append(faceset)
    return found


def faceset_of(root: Path | None, person_id: int, catalog=None) -> Faceset | None:
    """A person's faceset in the tree: at the top level, else among the thin sets."""
    for under in ("", "_thin"):
        for faceset in load_facesets(root, catalog, under):
            if faceset.person_id == person_id:
                return faceset
    return None


def unique_target(target: Path) -> Path:
    """`target`, or `target` with a numeric suffix when something is already there."""
    if not target.exists() and not target.is_symlink():
        return target
    n = 2
    while True:
        candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
        n += 1


class TreeJournal:
    """Applies file steps under one root and records them for undo."""

    def __init__(self, root: Path, operation_id: int):
        self.root = root
        self.operation_id = operation_id
        self.steps: list[dict] = []

    def rel(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.root.resolve()))

    def move(self, rel_source: str, quarantine: str, rel_target: str | None = None) -> str | None:
        """Move a file or folder under `quarantine`/ keeping its relative path; returns the new path."""
        if quarantine not in QUARANTINES:
            raise ValueError(f"unknown quarantine {quarantine}")
        source = inside(self.root, rel_source)
        if not source.exists():
            return None
        target = unique_target(inside(self.root, Path(quarantine) / (rel_target or rel_source)))
        made = _make_parents(target.parent, self.root)
        os.replace(source, target)
        self.steps.append({"op": "move", "from": rel_source, "to": self.rel(target), "made_dirs": made})
        return self.rel(target)

    def write(self, rel_path: str, data: bytes) -> None:
        """Write `data` at `rel_path` (staged then renamed); a previous file is kept aside first."""
        target = inside(self.root, rel_path)
        backup = None
        made = _make_parents(target.parent, self.root)
        if target.exists():
            aside = unique_target(inside(self.root, Path("_dropped") / "_replaced" / f"op{self.operation_id}" / rel_path))
            made += _make_parents(aside.parent, self.root)
            os.replace(target, aside)
            backup = self.rel(aside)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        self.steps.append({"op": "write", "path": rel_path, "sha256": sha256_bytes(data),
                           "backup": backup, "made_dirs": made})

    def create(self, rel_path: str, data: bytes) -> bool:
        """Write `data` at `rel_path` only if nothing is there (False then, and nothing written):
        a new file, never over another (sidecars beside sources). Undo removes it again."""
        target = inside(self.root, rel_path)
        if target.exists() or target.is_symlink():
            return False
        made = _make_parents(target.parent, self.root)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        try:
            os.link(tmp, target)       # atomic, and refuses a file that appeared meanwhile
        except FileExistsError:
            return False
        except OSError:                # no hard links on this disk (FAT): exclusive create instead
            try:
                with open(target, "xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
        finally:
            tmp.unlink(missing_ok=True)
        self.steps.append({"op": "write", "path": rel_path, "sha256": sha256_bytes(data), "backup": None,
                           "made_dirs": made})
        return True

    def make_dir(self, rel_path: str) -> None:
        made = _make_parents(inside(self.root, rel_path), self.root)
        if made:
            self.steps.append({"op": "mkdir", "made_dirs": made})

    def copy(self, rel_source: str, rel_target: str) -> None:
        self.write(rel_target, inside(self.root, rel_source).read_bytes())


def _make_parents(folder: Path, root: Path) -> list[str]:
    """Create `folder` and its missing parents; returns the ones made (deepest last)."""
    made = []
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir()
        made.append(str(path.resolve().relative_to(root.resolve())))
    return made


def check_undo(root: Path, steps: list[dict]) -> None:
    """Refuse to start an undo that could not finish: the tree must be as apply left it
    (a re-export or a hand edit since then would otherwise leave a half-reverted tree)."""
    for step in steps:
        if step["op"] == "move" and not inside(root, step["to"]).exists():
            raise TreeError(f"cannot undo: {step['to']} is gone from {root} (re-exported or edited since?)")
        if step["op"] == "write":
            path = inside(root, step["path"])
            if not path.is_file() or sha256_file(path) != step["sha256"]:
                raise TreeError(f"cannot undo: {step['path']} changed since it was written (re-exported?)")
            if step.get("backup") and not inside(root, step["backup"]).exists():
                raise TreeError(f"cannot undo: the previous {step['path']} kept at {step['backup']} is gone")


def undo_steps(root: Path, steps: list[dict]) -> None:
    """Replay tree steps backwards: moves return, written files go and their backups return."""
    for step in reversed(steps):
        if step["op"] == "move":
            source, target = inside(root, step["to"]), inside(root, step["from"])
            if target.exists():
                raise TreeError(f"cannot undo: {step['from']} exists again")
            os.replace(source, target)
        elif step["op"] == "write":
            path = inside(root, step["path"])
            if path.exists():
                if sha256_file(path) != step["sha256"]:
                    raise TreeError(f"cannot undo: {step['path']} changed since it was written")
                path.unlink()
            if step.get("backup"):
                os.replace(inside(root, step["backup"]), path)
        for made in reversed(step.get("made_dirs", [])):
            folder = inside(root, made)
            try:
                folder.rmdir()   # only ever empty folders that apply created
            except OSError:
                pass


def rewrite_faceset(journal: TreeJournal, faceset: Faceset, keep: list[Crop], extra: dict | None = None) -> None:
    """After crops left a faceset: its manifest lists what is left and its bundles are rebuilt."""
    manifest = dict(faceset.manifest)
    manifest["faces"] = [c.entry for c in keep]
    manifest.update(extra or {})
    journal.write(f"{faceset.label}/manifest.json", json_bytes(manifest))
    rebuild_bundles(journal, faceset.label, [faceset.folder / c.file for c in keep])
    single = f"single/{faceset.label}.png"
    if (journal.root / single).is_file():   # the one best crop: the best that is left
        best = (faceset.folder / keep[0].file).read_bytes() if keep else None
        if best is None:
            journal.move(single, "_dropped")
        elif best != (journal.root / single).read_bytes():
            journal.write(single, best)


def append_crops(journal: TreeJournal, folder: str, additions: list[tuple[Path, dict]]) -> int:
    """Copy crops into a faceset folder (next free numbers), list them in its manifest best first
    by composite quality, rebuild its bundles; returns how many crops it holds now."""
    path = inside(journal.root, folder)
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    entries = list(manifest.get("faces", []))
    held = {e.get("face_id") for e in entries}
    taken = {p.name for p in path.glob("*.png")}
    index = 0
    for source, entry in additions:
        if entry.get("face_id") is not None and entry.get("face_id") in held:
            continue
        while f"{index}.png" in taken:
            index += 1
        journal.write(f"{folder}/{index}.png", Path(source).read_bytes())
        taken.add(f"{index}.png")
        held.add(entry.get("face_id"))
        entries.append({**entry, "file": f"{index}.png", "from": journal.rel(Path(source))})
    entries.sort(key=lambda e: -float(e.get("quality") or 0.0))   # stable: equal quality keeps order
    for rank, entry in enumerate(entries):
        entry["rank"] = rank
    manifest["faces"] = entries
    journal.write(f"{folder}/manifest.json", json_bytes(manifest))
    base, label = folder.rsplit("/", 1) if "/" in folder else ("", folder)
    rebuild_bundles(journal, label, [path / crop_file(e, i) for i, e in enumerate(entries)], parent=base)
    return len(entries)


def rebuild_bundles(journal: TreeJournal, label: str, pngs: list[Path], parent: str = "",
                    like: str | None = None) -> None:
    """Rewrite every bundle of `label` the tree has (`_all` and each `_topN`, with its own N).
    A new faceset under `parent` gets the `_topN` sizes that faceset `like` (at the top level,
    e.g. the one it was split from) has, so it follows export's --top-n; else export's default."""
    base = journal.root / parent if parent else journal.root
    names = bundles_of(base, label) if base.is_dir() else []
    if parent and not names:
        sizes = [bundle_size(name) for name in bundles_of(journal.root, like)] if like else []
        sizes = [size for size in sizes if size] or [DEFAULT_TOP_N]
        names = list(dict.fromkeys(name for size in sizes for name in bundle_names(label, size)))
    data = [p.read_bytes() for p in pngs]
    for name in names:
        size = bundle_size(name)
        journal.write(str(Path(parent) / name) if parent else name, fsz_bytes(data if size is None else data[:size]))


def faceset_outputs(root: Path, label: str) -> list[str]:
    """Everything export wrote for one faceset: its folder, bundles, single image, photos folder."""
    found = [label] if (root / label).exists() else []
    found += bundles_of(root, label)
    for extra in (f"single/{label}.png", f"photos/{label}"):
        if (root / extra).exists():
            found.append(extra)
    return found


def quarantine_faceset(journal: TreeJournal, label: str, quarantine: str) -> str | None:
    """Move a faceset's folder, bundles, single image and photos under a quarantine folder."""
    moved = None
    for rel in faceset_outputs(journal.root, label):
        target = journal.move(rel, quarantine)
        moved = moved or target
    return moved


def update_top_manifest(journal: TreeJournal, lists: dict[str, list], provenance: dict,
                        counts: dict[str, int] | None = None) -> None:
    """The top-level manifest gains masked[], merged[], thin[] entries and this run's provenance;
    facesets whose crops changed get their new count."""
    path = inside(journal.root, "manifest.json")
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for entry in manifest.get("facesets", []) if counts else []:
        key = entry.get("folder", entry.get("label"))
        if key in counts:
            entry["faces"] = counts[key]
    for key in ("masked", "merged", "thin"):
        manifest.setdefault(key, [])
        manifest[key] = manifest[key] + list(lists.get(key, []))
    manifest.setdefault("curation", [])
    manifest["curation"] = manifest["curation"] + [provenance]
    journal.write("manifest.json", json_bytes(manifest))


def safe_label(text: str) -> str:
    return safe_component(text, "faceset")
