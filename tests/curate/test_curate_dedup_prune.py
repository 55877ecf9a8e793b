"""dedup finds every planted duplicate and no false pair; prune leaves facesets with exactly one
face per PNG and no near-duplicate pairs; apply + undo leave the tree unchanged."""
from __future__ import annotations

import pytest

import io
import json
import shutil

import numpy as np
from PIL import Image

from curatehelp import _library, catalog_dump, folder_of, library, tree_hashes  # noqa: F401
from conftest import run_cli

from facesets.catalog import Catalog
from facesets.curate.near import near_pairs
from facesets.curate.prune import count_faces, engine_for
from facesets.curate.tree import load_facesets
from facesets.profiles import profile_for
from facesets.media.decode import read_image


# A near-duplicate LFW itself holds: two frames of one moment (same dress, pose, background).
NATURAL = [("Serena_Williams/Serena_Williams_0002.jpg", "Serena_Williams/Serena_Williams_0016.jpg")]


@pytest.mark.slow
def test_dedup_finds_planted_pairs_and_no_false_pair(library):
    planted = library.meta
    plan = library.plan("dedup")
    byte_groups = [sorted(g["items"][i]["image"] for i in range(len(g["items"])))
                   for g in plan["groups"] if g["kind"] == "bytes"]
    assert sorted(byte_groups) == sorted(sorted(pair) for pair in planted["bytes"])
    visual = [sorted(f["path"] for f in g["faces"]) for g in plan["groups"] if g["kind"] == "visual"]
    expected = [sorted(pair) for pair in planted["visual"]]
    expected += [sorted(str(library.source / a) for a in pair) for pair in NATURAL]
    assert sorted(visual) == sorted(expected)
    # both members of each visual pair are exported in the same faceset: one crop is planned to go
    assert len(plan["actions"]) == len(expected)
    assert all(a["type"] == "drop_crop" and a["reason"] == "near-duplicate" for a in plan["actions"])
    assert "byte-identical" in library.plan_path("dedup").with_suffix(".html").read_text()

    tree_before, catalog_before = tree_hashes(library.out), catalog_dump(library.catalog)
    run_cli("dedup", "apply", "--plan", library.plan_path("dedup"))
    dropped = sorted((library.out / "_dropped").rglob("*.png"))
    assert len(dropped) == len(expected)
    for action in plan["actions"]:
        faceset = json.loads((library.out / action["faceset"] / "manifest.json").read_text())
        assert action["face_id"] not in [f["face_id"] for f in faceset["faces"]]
        assert not (library.out / action["faceset"] / action["file"]).exists()
    run_cli("undo", "--catalog", library.catalog)
    assert tree_hashes(library.out) == tree_before
    assert catalog_dump(library.catalog) == catalog_before


def _plant_crop_problems(library) -> dict:
    """A two-face PNG inside a faceset, and one person's crop copied into another person's faceset."""
    facesets = {f.label: f for f in load_facesets(library.out)}
    blair, rumsfeld = (folder_of(library.people[n][0]) for n in ("Tony_Blair", "Donald_Rumsfeld"))
    a, b = facesets[blair].folder / "1.png", facesets[blair].folder / "2.png"
    with Image.open(a) as left, Image.open(b) as right:
        pair = Image.new("RGB", (512, 256))
        pair.paste(left.convert("RGB"), (0, 0))
        pair.paste(right.convert("RGB"), (256, 0))
        buffer = io.BytesIO()
        pair.save(buffer, "PNG")
    (facesets[blair].folder / "3.png").write_bytes(buffer.getvalue())
    # cross-person byte duplicate: Blair's 0.png also appears in Rumsfeld's faceset; Blair is
    # pinned by the user (higher priority than the larger Rumsfeld), so Rumsfeld's copy goes
    with Catalog.open(library.catalog) as cat:
        row, = cat.people.snapshot([library.people["Tony_Blair"][0]])
        cat.people.restore([{**row, "pinned": 1}])   # as a user's pin leaves the row
    target = facesets[rumsfeld]
    shutil.copyfile(facesets[blair].folder / "0.png", target.folder / "99.png")
    manifest = json.loads((target.folder / "manifest.json").read_text())
    manifest["faces"].append({**facesets[blair].crops[0].entry, "file": "99.png"})
    (target.folder / "manifest.json").write_text(json.dumps(manifest))
    return {"two_faces": (blair, "3.png"), "cross": (rumsfeld, "99.png")}


@pytest.mark.slow
def test_prune_leaves_one_face_per_png_and_no_near_duplicates(library):
    planted = _plant_crop_problems(library)
    tree_before, catalog_before = tree_hashes(library.out), catalog_dump(library.catalog)
    plan = library.plan("prune", "--quiet")
    reasons = {(a["faceset"], a["file"]): a["reason"] for a in plan["actions"]}
    assert reasons[planted["cross"]] == "cross-person duplicate"
    assert reasons[planted["two_faces"]].startswith("2 faces")
    assert sum(r == "near-duplicate in faceset" for r in reasons.values()) >= 2   # the planted re-encode and shift
    run_cli("prune", "apply", "--plan", library.plan_path("prune"))

    with Catalog.open(library.catalog) as cat:
        engine = engine_for(cat)
        threshold = profile_for(cat.embedding_model().key).near_duplicate_similarity
        for faceset in load_facesets(library.out, cat):
            for crop in faceset.crops:
                assert count_faces(engine, read_image(faceset.folder / crop.file).rgb) == 1, (faceset.label, crop.file)
            ids = [c.face_id for c in faceset.crops]
            found = cat.faces.details(ids)
            matrix = np.stack([found[i].embedding for i in ids])
            assert len(set(ids)) == len(ids) and near_pairs(matrix, threshold) == []
            listed = {f["file"] for f in json.loads((faceset.folder / "manifest.json").read_text())["faces"]}
            assert listed == {p.name for p in faceset.folder.glob("*.png")}
    assert planted["cross"][1] in {p.name for p in (library.out / "_dropped" / planted["cross"][0]).iterdir()}

    run_cli("undo", "--catalog", library.catalog)
    assert tree_hashes(library.out) == tree_before
    assert catalog_dump(library.catalog) == catalog_before
