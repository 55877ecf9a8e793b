"""Issue 10: `--input crops` and `--input aligned` on face crops (what export and other tools write).

`aligned` never calls the detector and must group faces the way `crops` does."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import FACES, run_cli
from facesets.catalog import Catalog
from facesets.embed import EmbedOptions, embed
from test_import import IDENTITIES, exported_tree, png_bytes  # noqa: F401 (a fixture)

LFW = FACES / "lfw158"
PER_IDENTITY = 10


@pytest.fixture(scope="module")
def dlib_engine():
    from facesets.engines import EngineOptions, load_engine
    return load_engine(EngineOptions(engine="dlib"))


def engine_chip(engine, path: Path) -> np.ndarray | None:
    """The chip the engine itself cuts (dlib: 150x150): what an aligned-chip folder holds."""
    from facesets.media import read_image

    rgb = read_image(str(path)).rgb
    found = engine.detect(rgb)
    return engine.align(rgb, found[0]) if found else None


@pytest.fixture(scope="module")
def chips_dir(tmp_path_factory, dlib_engine) -> Path:
    """Engine-aligned chips of a few identities: <identity>/<n>.png."""
    root = tmp_path_factory.mktemp("chips")
    for name in IDENTITIES:
        folder = root / name
        folder.mkdir()
        for i, photo in enumerate(sorted((LFW / name).iterdir())[:PER_IDENTITY]):
            chip = engine_chip(dlib_engine, photo)
            if chip is not None:
                (folder / f"{i}.png").write_bytes(png_bytes(chip))
    return root


def _embed(tmp_path: Path, name: str, sources, engine, mode: str) -> Catalog:
    catalog = Catalog.open(tmp_path / f"{name}.db")
    embed(catalog, sources, engine=engine, options=EmbedOptions(input_mode=mode))
    return catalog


def _faces_by_file(catalog: Catalog) -> dict[str, tuple[int, np.ndarray]]:
    """sha256 of the crop -> (face id, embedding); one face per crop."""
    sha = {f.id: f.sha256 for f in catalog.files.all()}
    return {sha[f.file_id]: (f.id, f.embedding) for f in catalog.faces.all() if f.face_index == 0}


def _paths_of(catalog: Catalog, shas: list[str]) -> list[str]:
    paths = {f.sha256: f.path for f in catalog.files.all()}
    return [paths[s] for s in shas]


def _identity_of(catalog: Catalog) -> dict[str, str]:
    return {f.sha256: Path(f.path).parent.name for f in catalog.files.all()}


def _partition(catalog: Catalog) -> dict[int, int]:
    """face id -> cluster, by the project's clustering (unassigned faces each alone)."""
    from facesets.cluster import cluster

    cluster(catalog)
    return {f.id: (f.person_id if f.person_id is not None else -f.id) for f in catalog.faces.all()}


def agreement(a: list, b: list) -> float:
    """Share of items whose cluster in `a` maps (by majority) to their cluster in `b`, both ways."""
    def one_way(x, y):
        best = {}
        for cx in set(x):
            best[cx] = Counter(cy for cx2, cy in zip(x, y) if cx2 == cx).most_common(1)[0][0]
        return sum(best[cx] == cy for cx, cy in zip(x, y)) / len(x)
    return min(one_way(a, b), one_way(b, a))


def test_agreement_measure_can_fail():
    assert agreement([1, 1, 2, 2], [5, 5, 7, 7]) == 1.0
    assert agreement([1, 1, 1, 1], [5, 5, 7, 7]) == 0.5


def test_aligned_on_engine_chips_makes_no_detector_calls(tmp_path, chips_dir, dlib_engine):
    """A folder of the engine's own chips: used as they are, identities still apart."""
    n_chips = sum(1 for _ in chips_dir.rglob("*.png"))
    assert n_chips >= len(IDENTITIES) * PER_IDENTITY - 2
    dlib_engine.detector_calls = 0
    with _embed(tmp_path, "aligned", [chips_dir], dlib_engine, "aligned") as aligned:
        assert dlib_engine.detector_calls == 0
        modes = Counter(f.input_mode for f in aligned.faces.all())
        assert list(modes.items()) == [("aligned", n_chips)]
        assert sum(1 for f in aligned.files.all() if f.input_mode == "aligned" and f.n_faces == 1) == n_chips
        faces, identity = _faces_by_file(aligned), _identity_of(aligned)
    keys = sorted(faces)
    X = np.stack([faces[k][1] for k in keys])
    d = X @ X.T
    np.fill_diagonal(d, -2)
    nn = d.argmax(axis=1)
    assert np.mean([identity[keys[i]] == identity[keys[j]] for i, j in enumerate(nn)]) >= 0.95


def _exported_crops(out: Path) -> tuple[list[Path], dict[str, str]]:
    """The crop folders of an export and, from their manifests, each crop's LFW identity."""
    import json

    folders = sorted(p for p in out.iterdir() if p.is_dir() and (p / "manifest.json").exists())
    identity = {}
    for folder in folders:
        for face in json.loads((folder / "manifest.json").read_text())["faces"]:
            identity[str(folder / face["file"])] = Path(face["source"]).parent.name
    return folders, identity


@pytest.mark.slow
def test_aligned_on_exported_crops_makes_no_detector_calls_and_clusters_like_crops(tmp_path, exported_tree,
                                                                                  dlib_engine):
    """Acceptance 2 on the crops `facesets export` writes (square, padded, not rotated)."""
    folders, identity = _exported_crops(exported_tree)
    n_crops = len(identity)
    assert n_crops >= 40
    dlib_engine.detector_calls = 0
    aligned = _embed(tmp_path, "aligned", folders, dlib_engine, "aligned")
    assert dlib_engine.detector_calls == 0
    assert sum(1 for f in aligned.faces.all() if f.input_mode == "aligned") == n_crops
    crops = _embed(tmp_path, "crops", folders, dlib_engine, "crops")
    fa, fc = _faces_by_file(aligned), _faces_by_file(crops)
    common = sorted(set(fa) & set(fc))
    assert len(common) >= 0.98 * n_crops
    pa, pc = _partition(aligned), _partition(crops)
    score = agreement([pa[fa[s][0]] for s in common], [pc[fc[s][0]] for s in common])
    print(f"aligned vs crops agreement on {len(common)} exported crops: {score:.4f}")
    assert score >= 0.98, score
    assert len(set(pc.values())) >= len(folders) // 2          # not everything in one cluster
    for faces in (fa, fc):   # both tell the identities apart: nearest neighbour, same identity
        X = np.stack([faces[s][1] for s in common])
        d = X @ X.T
        np.fill_diagonal(d, -2)
        nn = d.argmax(axis=1)
        ids = [identity[k] for k in _paths_of(crops, common)]
        assert np.mean([ids[i] == ids[j] for i, j in enumerate(nn)]) >= 0.95
    aligned.close()
    crops.close()


def _side_by_side(*images: np.ndarray) -> np.ndarray:
    h = min(i.shape[0] for i in images)
    return np.hstack([cv2.resize(i, (h, h)) for i in images])


def test_crops_mode_records_no_face_and_several_faces(tmp_path, dlib_engine):
    from facesets.media import read_image

    folder = tmp_path / "crops"
    folder.mkdir()
    a = read_image(str(sorted((LFW / "Tom_Hanks").iterdir())[0])).rgb
    b = read_image(str(sorted((LFW / "Ian_Thorpe").iterdir())[0])).rgb
    (folder / "one.png").write_bytes(png_bytes(cv2.resize(a, (512, 512))))
    (folder / "two.png").write_bytes(png_bytes(_side_by_side(a, b)))
    (folder / "none.png").write_bytes(png_bytes(np.full((512, 512, 3), 128, np.uint8)))
    with _embed(tmp_path, "c", [folder], dlib_engine, "crops") as catalog:
        kept = Counter(f.file_id for f in catalog.faces.all())
        rows = {Path(f.path).stem: {"status": f.status, "n_faces": f.n_faces, "input_mode": f.input_mode,
                                    "kept": kept[f.id]} for f in catalog.files.all()}
    assert (rows["one"]["status"], rows["one"]["n_faces"], rows["one"]["kept"]) == ("done", 1, 1)
    assert (rows["none"]["status"], rows["none"]["n_faces"], rows["none"]["kept"]) == ("noface", 0, 0)
    assert rows["two"]["n_faces"] >= 2 and rows["two"]["status"] == "multiface" and rows["two"]["kept"] == 1
    assert all(r["input_mode"] == "crops" for r in rows.values())


def test_crops_mode_keeps_the_largest_face_of_a_multiface_crop(tmp_path, dlib_engine):
    from facesets.media import read_image

    folder = tmp_path / "crops"
    folder.mkdir()
    big = read_image(str(sorted((LFW / "Tom_Hanks").iterdir())[0])).rgb
    small = cv2.resize(read_image(str(sorted((LFW / "Ian_Thorpe").iterdir())[0])).rgb, (170, 170))
    canvas = np.full((512, 512, 3), 90, np.uint8)
    canvas[:, :] = 90
    canvas[40:470, 0:430] = cv2.resize(big, (430, 430))
    canvas[300:470, 342:512] = small
    (folder / "two.png").write_bytes(png_bytes(canvas))
    with _embed(tmp_path, "c", [folder], dlib_engine, "crops") as catalog:
        [row] = catalog.files.all()
        faces = catalog.faces.all()
    assert row.n_faces >= 2 and row.status == "multiface"
    assert len(faces) == 1 and faces[0].box[0] < 300            # the big face on the left


def test_cli_input_aligned(tmp_path, chips_dir):
    one = tmp_path / "one"
    one.mkdir()
    for p in sorted((chips_dir / "Tom_Hanks").iterdir())[:3]:
        (one / p.name).write_bytes(p.read_bytes())
    proc = run_cli("embed", one, "--catalog", tmp_path / "c.db", "--engine", "dlib", "--input", "aligned", "-q")
    assert "faces 3" in proc.stdout
    bad = run_cli("embed", one, "--catalog", tmp_path / "c.db", "--engine", "dlib", "--input", "nope", "-q",
                  check=False)
    assert bad.returncode != 0 and "unknown input mode" in bad.stderr


def test_insightface_aligned_places_the_face_where_export_crops_hold_it(tmp_path, test_models):
    """No landmark model without detection in an InsightFace pack: the mean upright five points
    in the export's face box are within a few percent of what SCRFD finds, and the chip is much
    closer to the detected one than a plain resize of the crop."""
    from facesets.engines import EngineOptions, load_engine
    from facesets.media.crops import CropSpec, cut_square, square_for
    from facesets.embed.framing import aligned_face
    from facesets.media import read_image

    engine = load_engine(EngineOptions(engine="insightface", models=str(test_models), device="cpu", download=False))
    folder = tmp_path / "crops"
    folder.mkdir()
    errors, closer = [], []
    for person in sorted(p for p in LFW.iterdir() if p.is_dir())[100:120]:
        rgb = read_image(str(sorted(person.iterdir())[0])).rgb
        found = engine.detect(rgb)
        if not found:
            continue
        crop = np.asarray(cut_square(rgb, square_for(found[0].box, rgb.shape[1], rgb.shape[0], CropSpec()), 512))
        (folder / f"{person.name}.png").write_bytes(png_bytes(crop))
        again = engine.detect(crop)
        if len(again) != 1:
            continue
        face = aligned_face(engine, crop)
        errors.append(float(np.abs(face["landmarks"] - again[0].landmarks).mean()) / 512)
        reference = engine.align(crop, again[0]).astype(np.float32)
        resized = cv2.resize(crop, (engine.chip_size, engine.chip_size), interpolation=cv2.INTER_AREA)
        closer.append(np.abs(face["chip"] - reference).mean() < np.abs(resized - reference).mean())
    assert len(errors) >= 12
    assert np.mean(errors) < 0.05, np.mean(errors)
    assert np.mean(closer) >= 0.9
    engine.detector_calls = 0
    with _embed(tmp_path, "ins", [folder], engine, "aligned") as catalog:
        assert engine.detector_calls == 0
        assert sum(1 for f in catalog.faces.all() if f.input_mode == "aligned" and f.landmarks is not None
                   ) == len(list(folder.iterdir()))
