"""Issue 10: importing existing face sets (.fsz bundles, crop folders) as imported people,
and refusing hostile bundles before a byte is written."""
from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import FACES, run_cli
from facesets.catalog import Catalog
from facesets.importer import ImportRefused, check_archive, import_sources, managed_root

LFW = FACES / "lfw158"
IDENTITIES = ["Bill_McBride", "Ian_Thorpe", "Jacques_Rogge", "Jason_Kidd",
              "Javier_Solana", "Muhammad_Ali", "Tom_Cruise", "Tom_Hanks"]


# -- building bundles the way roop and our exporter write them ---------------------------------

def lfw_crop(path: Path, size: int = 512) -> np.ndarray:
    """A face crop as face-set tools cut them: LFW faces sit in the middle of 250x250 photos."""
    from facesets.media import read_image

    rgb = read_image(str(path)).rgb
    h, w = rgb.shape[:2]
    side = int(min(h, w) * 0.72)
    y, x = (h - side) // 2, (w - side) // 2
    return cv2.resize(rgb[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_CUBIC)


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buffer.tobytes()


def write_fsz(path: Path, pngs: list[bytes]) -> Path:
    """A roop-unleashed bundle: zip (stored), members 0.png, 1.png, ..."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i, data in enumerate(pngs):
            archive.writestr(f"{i}.png", data)
    return path


def lfw_bundles(out: Path, identities=IDENTITIES, per_identity: int = 10) -> dict[str, Path]:
    """One .fsz per identity, from LFW photos cut to 512x512 crops."""
    bundles = {}
    for name in identities:
        photos = sorted((LFW / name).iterdir())[:per_identity]
        bundles[name] = write_fsz(out / f"{name}.fsz", [png_bytes(lfw_crop(p)) for p in photos])
    return bundles


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dlib_engine():
    from facesets.engines import EngineOptions, load_engine
    return load_engine(EngineOptions(engine="dlib"))


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    return lfw_bundles(tmp_path_factory.mktemp("bundles"))


def imported_people(catalog: Catalog) -> dict[int, dict]:
    """person id -> its name, source, imported flag, how its faces were assigned and embedded, and
    how many it holds (one entry per person: every face of a person is assigned the same way)."""
    people = {p.id: p for p in catalog.people.all()}
    groups = Counter((f.person_id, f.assigned_by, f.input_mode) for f in catalog.faces.all() if f.person_id)
    return {pid: {"id": pid, "name": people[pid].name, "source": people[pid].source,
                  "imported": int(people[pid].imported), "assigned_by": by, "input_mode": mode, "n": n}
            for (pid, by, mode), n in groups.items()}


# -- hostile bundles (acceptance 3) ------------------------------------------------------------

def _zip_bytes(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def _declared_size_bundle(declared: int) -> bytes:
    """A bundle whose one member claims `declared` bytes: the central directory lies."""
    data = _zip_bytes([("0.png", b"tiny")])
    head = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    raw = bytearray(data)
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = declared.to_bytes(4, "little")           # uncompressed size, central dir
    raw[head.header_offset + 22:head.header_offset + 26] = declared.to_bytes(4, "little")  # local header
    return bytes(raw)


def _symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("0.png")
    info.create_system = 3
    info.external_attr = (0o120777 << 16)
    return info


HOSTILE = {
    "dotdot": (lambda: _zip_bytes([("0.png", b"x"), ("../x.png", b"escaped")]), "escapes the bundle"),
    "nested_dotdot": (lambda: _zip_bytes([("a/../../x.png", b"escaped")]), "escapes the bundle"),
    "absolute": (lambda: _zip_bytes([("/tmp/facesets_abs_escape.png", b"escaped")]), "absolute path"),
    "drive": (lambda: _zip_bytes([("C:\\evil\\x.png", b"escaped")]), "absolute path"),
    "backslash_dotdot": (lambda: _zip_bytes([("..\\x.png", b"escaped")]), "escapes the bundle"),
    "symlink": (lambda: _zip_bytes([(_symlink_member(), b"/etc/passwd")]), "symbolic link"),
    "markup_in_name": (lambda: _zip_bytes([("../[/red]x.png", b"escaped")]), "[/red]x.png"),
    "10000_members": (lambda: _zip_bytes([(f"{i}.png", b"") for i in range(10_000)]), "10000 members"),
    "1GB_declared": (lambda: _declared_size_bundle(1024 ** 3), "declares 1.0 GB"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_bundle_is_refused_before_anything_is_written(tmp_path, case):
    build, reason = HOSTILE[case]
    bundle = tmp_path / "src" / "evil.fsz"
    bundle.parent.mkdir()
    bundle.write_bytes(build())
    with zipfile.ZipFile(bundle) as archive, pytest.raises(ImportRefused) as refused:
        check_archive(archive)
    assert reason in str(refused.value) and "\n" not in str(refused.value)

    before = tree_state(tmp_path)
    proc = run_cli("import", bundle, "--catalog", tmp_path / "lib" / "catalog.db", "--engine", "dlib", "-q",
                   check=False)
    assert proc.returncode != 0
    message = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(message) == 1 and "import refused" in message[0] and reason in message[0], proc.stderr
    written = set(tree_state(tmp_path)) - set(before)
    assert all(p.startswith("lib/catalog.db") for p in written), written   # the catalog, nothing else
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "src" / "x.png").exists()
    assert not Path("/tmp/facesets_abs_escape.png").exists()
    assert not (tmp_path / "lib" / "catalog_imports").exists()


def test_one_bad_bundle_refuses_the_whole_import(tmp_path, bundles):
    evil = tmp_path / "evil.fsz"
    evil.write_bytes(HOSTILE["dotdot"][0]())
    with Catalog.open(tmp_path / "catalog.db") as catalog, pytest.raises(ImportRefused):
        import_sources(catalog, [bundles["Tom_Hanks"], evil], engine_options=None)
    assert not managed_root(Catalog.open(tmp_path / "catalog.db")).exists()


def test_a_zip_bomb_ratio_and_not_a_zip_are_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("0.png", b"\0" * (50 * 1024 ** 2))
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive, pytest.raises(ImportRefused, match="zip bomb"):
        check_archive(archive, "bomb.fsz")
    junk = tmp_path / "junk.fsz"
    junk.write_bytes(b"not a zip at all")
    with Catalog.open(tmp_path / "catalog.db") as catalog, pytest.raises(ImportRefused, match="not a readable"):
        import_sources(catalog, [junk])


def test_a_damaged_member_is_refused_and_leaves_no_half_folder(tmp_path, bundles):
    data = bytearray(bundles["Tom_Hanks"].read_bytes())
    with zipfile.ZipFile(bundles["Tom_Hanks"]) as archive:
        info = archive.infolist()[3]
    start = info.header_offset + 30 + len(info.filename) + 200   # inside the stored PNG bytes
    data[start:start + 16] = bytes(16)
    damaged = tmp_path / "damaged.fsz"
    damaged.write_bytes(bytes(data))
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        with pytest.raises(ImportRefused, match="damaged"):
            import_sources(catalog, [damaged], engine_options=None)
        root = managed_root(catalog)
        assert not root.exists() or not any(root.iterdir())
        assert catalog.counts()["files"] == 0


def test_safe_members_get_flat_names_and_non_images_are_skipped():
    data = _zip_bytes([("0.png", b"a"), ("sub/dir/1.png", b"b"), ("notes.txt", b"c"), ("dir/", b""),
                       ("./2.PNG", b"d")])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [m.target for m in check_archive(archive)]
    assert names == ["0.png", "sub__dir__1.png", "2.png"]


# -- importing (acceptance 1) ------------------------------------------------------------------

def test_importing_bundles_recreates_one_person_per_bundle(tmp_path, bundles, dlib_engine):
    sources_before = {name: path.read_bytes() for name, path in bundles.items()}
    catalog_path = tmp_path / "lib" / "catalog.db"
    with Catalog.open(catalog_path) as catalog:
        result = import_sources(catalog, list(bundles.values()), engine=dlib_engine)
        people = imported_people(catalog)
        crops = sum(10 for _ in bundles)
        assert result.crops == crops
        assert result.assigned >= 0.95 * crops, result.as_dict()
        names = {row["name"]: row for row in people.values()}
        assert set(names) == set(IDENTITIES)                       # one person per bundle, named after it
        for name, row in names.items():
            assert row["imported"] == 1 and row["assigned_by"] == "import" and row["input_mode"] == "crops"
            assert row["source"] == str(bundles[name])
        # every crop of a person came from that person's bundle
        names = {p.id: p.name for p in catalog.people.all()}
        root = managed_root(catalog)
        for face in catalog.faces.all():
            if face.person_id is None:
                continue
            path = Path(face.path)
            assert path.parent == root / names[face.person_id] and path.suffix == ".png"
        first_state = tree_state(root)
        counts = catalog.counts()
        written = {p.relative_to(tmp_path).parts[:2] for p in tmp_path.rglob("*") if p.is_file()}
        assert written <= {("lib", "catalog_imports"), ("lib", "catalog.db"), ("lib", "catalog.db-wal"),
                           ("lib", "catalog.db-shm"), ("lib", "catalog.db.lock")}, written

    # idempotent: the same bundles again change nothing
    with Catalog.open(catalog_path) as catalog:
        again = import_sources(catalog, list(bundles.values()), engine=dlib_engine)
        assert imported_people(catalog) == people
        assert catalog.counts() == counts
        assert again.embed["faces"] == 0 and again.assigned == result.assigned
        assert tree_state(managed_root(catalog)) == first_state
    assert {name: path.read_bytes() for name, path in bundles.items()} == sources_before


def test_top_and_all_bundles_and_the_folder_of_one_faceset_are_one_person(tmp_path, dlib_engine):
    photos = sorted((LFW / "Tom_Cruise").iterdir())
    pngs = [png_bytes(lfw_crop(p)) for p in photos]
    out = tmp_path / "export"
    write_fsz(out / "Tom_Cruise_top30.fsz", pngs[:4])
    write_fsz(out / "Tom_Cruise_all.fsz", pngs)
    folder = out / "Tom_Cruise"
    folder.mkdir()
    for i, data in enumerate(pngs):
        (folder / f"{i}.png").write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps({"faces": [
        {"file": f"{i}.png", "source": str(p), "box": [10, 20, 110, 140]} for i, p in enumerate(photos)]}))
    (folder / "_dropped").mkdir()
    (folder / "_dropped" / "x.png").write_bytes(png_bytes(lfw_crop(sorted((LFW / "Tom_Hanks").iterdir())[0])))
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        result = import_sources(catalog, [out], engine=dlib_engine)
        assert result.sources == 3
        people = catalog.people.all()
        assert len(people) == 1 and people[0].name == "Tom_Cruise" and people[0].imported
        faces = catalog.faces.all()
        # identical bytes in three places are one file (aliases), so one face each
        assert len(faces) >= len(photos) - 1 and all(f.person_id == people[0].id for f in faces)
        origins = [f.origin for f in faces if f.origin]
        assert len(origins) == len(faces)
        assert {o["photo"] for o in origins} <= {str(p) for p in photos}
        assert all(o["box"] == [10, 20, 110, 140] for o in origins)
        assert not [f for f in catalog.files.all() if "_dropped" in f.path]


def test_user_decisions_survive_a_reimport(tmp_path, bundles, dlib_engine):
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        import_sources(catalog, [bundles["Tom_Hanks"], bundles["Ian_Thorpe"]], engine=dlib_engine)
        [hanks] = catalog.people.by_name("Tom_Hanks")
        [thorpe] = catalog.people.by_name("Ian_Thorpe")
        faces = catalog.faces.ids_of_person(hanks)
        with catalog.transaction():
            catalog.people.move_faces(faces[:1], thorpe)
            catalog.people.remove_faces(faces[1:2], hanks)
        import_sources(catalog, [bundles["Tom_Hanks"]], engine=dlib_engine)
        placed = {f.id: (f.person_id, f.assigned_by) for f in catalog.faces.all()}
        assert placed[faces[0]] == (thorpe, "user")
        assert placed[faces[1]] == (None, "user")
        assert all(placed[f][0] == hanks for f in faces[2:])


def test_cli_imports_a_crop_folder(tmp_path):
    folder = tmp_path / "faceset_001"
    folder.mkdir()
    for i, photo in enumerate(sorted((LFW / "Jason_Kidd").iterdir())[:4]):
        (folder / f"{i}.png").write_bytes(png_bytes(lfw_crop(photo)))
    before = tree_state(folder)
    proc = run_cli("import", folder, "--catalog", tmp_path / "catalog.db", "--engine", "dlib", "-q")
    assert "faceset_001" in proc.stdout and "sources 1, crops 4" in proc.stdout
    assert tree_state(folder) == before
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        [person] = catalog.people.active()
        assert (person.name, person.imported, person.n_faces) == (None, True, 4)   # numbered anew here
    assert not (tmp_path / "catalog_imports").exists()    # folders are read in place


def test_names_of_numbered_facesets():
    from facesets.importer.sources import person_name

    assert person_name("faceset_007") is None and person_name("person_012") is None
    assert person_name("faceset_007_Ada_Lovelace") == "Ada_Lovelace" and person_name("Tom_Hanks") == "Tom_Hanks"


def test_missing_source_is_a_one_line_error(tmp_path):
    proc = run_cli("import", tmp_path / "nope.fsz", "--catalog", tmp_path / "c.db", "--engine", "dlib", "-q",
                   check=False)
    assert proc.returncode != 0 and "no such file" in proc.stderr


# -- acceptance 1: export, then import the exported bundles ------------------------------------

PER_FACESET = 10


@pytest.fixture(scope="session")
def exported_tree(tmp_path_factory) -> Path:
    """A real export (roop target) of a small library: a few identities embedded with dlib,
    clustered, refined (facesets from 5 faces) and exported. Built once per session."""
    from facesets import cluster as cluster_mod

    from facesets import export as export_mod
    from facesets.embed import EmbedOptions, embed
    from facesets.engines import EngineOptions, load_engine

    engine = load_engine(EngineOptions(engine="dlib"))
    root = tmp_path_factory.mktemp("exported")
    library = root / "library"
    for name in IDENTITIES:
        (library / name).mkdir(parents=True)
        for photo in sorted((LFW / name).iterdir())[:PER_FACESET]:
            (library / name / photo.name).write_bytes(photo.read_bytes())
    out = root / "export"
    with Catalog.open(root / "original.db") as original:
        embed(original, [library], engine=engine, options=EmbedOptions())
        cluster_mod.cluster(original)
        cluster_mod.refine(original, params={"min_faces": 5})
        export_mod.export(original, out, targets=("roop",), engine_options=EngineOptions(engine="dlib"))
    return out


@pytest.mark.slow
def test_exported_bundles_import_as_the_same_people(tmp_path, exported_tree, dlib_engine):
    """Importing the exported .fsz bundles into a fresh catalog gives one imported person per
    exported faceset holding >= 99% of its crops."""
    out = exported_tree
    bundles = sorted(out.glob("*_all.fsz"))
    assert len(bundles) >= len(IDENTITIES) // 2, sorted(p.name for p in out.iterdir())
    members = {}
    for bundle in bundles:
        with zipfile.ZipFile(bundle) as archive:
            infos = archive.infolist()
            assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
            members[bundle] = [i.filename for i in infos if i.filename.endswith(".png")]

    with Catalog.open(tmp_path / "fresh" / "catalog.db") as fresh:
        result = import_sources(fresh, bundles, engine=dlib_engine)
        rows = list(fresh.people.with_counts().values())
        assert len(rows) == len(bundles)                         # one imported person per faceset
        by_source = {Path(r.source): r.n_faces for r in rows}
        assert set(by_source) == set(bundles)
        total = sum(len(m) for m in members.values())
        assert sum(by_source.values()) >= 0.99 * total, (by_source, result.as_dict())
        for bundle, n in by_source.items():
            assert n >= 0.9 * len(members[bundle]), (bundle, n, len(members[bundle]))
        # the export's folder manifests beside the bundles keep the link to the original photos
        origins = [(f.person_id, f.origin) for f in fresh.faces.all() if f.person_id is not None]
        linked = [(person, origin) for person, origin in origins if origin]
        assert len(linked) >= 0.99 * len(origins)
        identities = {}
        for person, origin in linked:
            identities.setdefault(person, Counter())[Path(origin["photo"]).parent.name] += 1
            assert len(origin["box"]) == 4
        for person, counts in identities.items():   # a faceset is (nearly) one LFW identity
            assert counts.most_common(1)[0][1] >= 0.9 * sum(counts.values()), counts
        # every crop of an imported person came from its own bundle
        sources = {p.id: p.source for p in fresh.people.all()}
        for face in fresh.faces.all():
            if face.person_id is not None:
                assert Path(face.path).parent.name == Path(sources[face.person_id]).stem

    # the exported folders (with manifest.json) keep the link to the original photos
    folders = [p for p in out.iterdir() if p.is_dir() and (p / "manifest.json").exists()]
    if folders:
        with Catalog.open(tmp_path / "fresh2.db") as again:
            import_sources(again, folders, engine=dlib_engine)
            origins = [f.origin for f in again.faces.all() if f.origin is not None]
            assert origins and all(Path(o["photo"]).name.endswith(".jpg") for o in origins)


def test_auto_engine_means_the_catalogs_engine(tmp_path, test_models):
    """With InsightFace weights at hand `auto` would pick InsightFace; a dlib catalog imports with dlib."""
    from facesets.engines import EngineOptions

    folder = tmp_path / "Tom_Hanks"
    folder.mkdir()
    for i, photo in enumerate(sorted((LFW / "Tom_Hanks").iterdir())[:3]):
        (folder / f"{i}.png").write_bytes(png_bytes(lfw_crop(photo)))
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        catalog.register_model("dlib", "resnet_v1", 128, "hog", "dlib5")
        result = import_sources(catalog, [folder], engine_options=EngineOptions(engine="auto", models=str(test_models)))
        assert result.assigned == 3
        assert catalog.embedding_model().key == "dlib/resnet_v1"
        assert {engine for _, engine, _, _ in catalog.integrity.model_face_counts()} == {"dlib"}


def test_clustering_after_an_import_keeps_the_imported_people(tmp_path, bundles, dlib_engine):
    """Imported people are decisions like a user's: cluster never moves their faces."""
    from facesets import cluster as cluster_mod

    with Catalog.open(tmp_path / "catalog.db") as catalog:
        import_sources(catalog, [bundles["Tom_Hanks"], bundles["Jason_Kidd"]], engine=dlib_engine)
        before = [(f.id, f.person_id, f.assigned_by) for f in catalog.faces.all()]
        cluster_mod.cluster(catalog)
        after = [(f.id, f.person_id, f.assigned_by) for f in catalog.faces.all()]
        assert after == before
        assert {by for _, _, by in after} == {"import"}
        assert sum(1 for p in catalog.people.all() if p.imported) == 2


def test_two_bundles_with_one_name_get_their_own_folders_and_people(tmp_path, dlib_engine):
    first = sorted((LFW / "Tom_Hanks").iterdir())[:2]
    second = sorted((LFW / "Ian_Thorpe").iterdir())[:2]
    a = write_fsz(tmp_path / "one" / "Tom.fsz", [png_bytes(lfw_crop(p)) for p in first])
    b = write_fsz(tmp_path / "two" / "Tom.fsz", [png_bytes(lfw_crop(p)) for p in second])
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        import_sources(catalog, [a], engine=dlib_engine)
        import_sources(catalog, [b], engine=dlib_engine)
        import_sources(catalog, [a, b], engine=dlib_engine)          # again: nothing new
        folders = sorted(p.name for p in managed_root(catalog).iterdir() if p.is_dir())
        assert (managed_root(catalog) / ".facesets-imports").is_file()   # the scan's mark: never a source
        assert len(folders) == 2 and folders[0] == "Tom" and folders[1].startswith("Tom-")
        assert [(p.source, p.n_faces) for p in catalog.people.active()] == [(str(a), 2), (str(b), 2)]
