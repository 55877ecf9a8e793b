"""Curation against the tree `facesets export` really writes: every curation command (occlusion on a
tiny random-weight CLIP) changes it and undoing them all (newest first) gives it back byte for byte;
after `--top-n 50` a dropped crop leaves every bundle of its faceset, and undo restores them."""
from __future__ import annotations

import hashlib
import json
import shutil
import zipfile

import pytest

from curatehelp import DLIB_CUTS, SPLIT, _library, catalog_dump, make_people, tiny_clip, tree_hashes  # noqa: F401
from conftest import run_cli

from facesets.media.bundles import bundles_of


def _export(library, tmp_path, *options: str):
    """A copy of the library's catalog, its people, and the tree `facesets export` writes from it."""
    catalog = tmp_path / "catalog.db"
    shutil.copyfile(library[0], catalog)
    people = make_people(catalog, SPLIT)
    out = tmp_path / "out"
    run_cli("export", "--catalog", catalog, out, *options)
    return catalog, people, out


@pytest.mark.slow
def test_apply_then_undo_every_command_on_a_real_export(_library, tiny_clip, tmp_path):
    catalog, people, out = _export(_library, tmp_path, "-t", "roop", "-t", "single", "-t", "folders")
    exported, catalog_before = tree_hashes(out), catalog_dump(catalog)
    assert any(p.endswith("_all.fsz") for p in exported)

    applied, changed = [], []
    for command, *args in (("dedup",), ("prune", "--quiet"), ("consolidate", *DLIB_CUTS),
                           ("age-split", str(people["Tony_Blair"][0]), "--min-era", "5"),
                           # threshold 0: the random-weight CLIP flags every crop, so every
                           # faceset (the era sets included) is quarantined to _masked/
                           ("occlusion", *tiny_clip, "--threshold", "0.0", "--quiet")):
        plan = tmp_path / f"{command}.json"
        run_cli(command, "analyze", *args, "--catalog", catalog, "--out", plan)
        before = tree_hashes(out)
        run_cli(command, "apply", "--plan", plan)
        applied.append((command, before))
        if tree_hashes(out) != before:
            changed.append(command)
    # export already collapsed the planted near-duplicates and re-detected every crop, so dedup
    # and prune may find nothing here; the merge, the era set and the quarantine always change it
    assert {"consolidate", "age-split", "occlusion"} <= set(changed)
    assert list((out / "_masked").glob("faceset_*")) and not list(out.glob("faceset_*"))
    for command, before in reversed(applied):
        run_cli("undo", "--catalog", catalog)
        assert tree_hashes(out) == before, command
    assert tree_hashes(out) == exported
    assert catalog_dump(catalog) == catalog_before


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _members(bundle) -> list[str]:
    """The sha256 of each member of a .fsz bundle, in order (0.png, 1.png, ...)."""
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        assert names == [f"{i}.png" for i in range(len(names))]
        return [_digest(archive.read(name)) for name in names]


@pytest.mark.slow
def test_top_n_bundles_lose_a_dropped_crop_and_undo_restores(_library, tmp_path):
    """`facesets export --top-n 50`, then a curation that drops crops: every bundle of a faceset
    that lost crops (its _top50 and its _all) is rewritten from what is left, no other bundle
    appears, and `facesets undo` gives back the exported tree byte for byte. Era sets split off
    later get _top50 bundles too."""
    catalog, people, out = _export(_library, tmp_path, "-t", "roop", "-t", "folders", "--top-n", "50")
    exported, catalog_before = tree_hashes(out), catalog_dump(catalog)
    bundles = sorted(p.name for p in out.glob("*.fsz"))
    assert bundles and all(p.endswith(("_all.fsz", "_top50.fsz")) for p in bundles)

    # crops of one person this alike (dlib) count as near-duplicates: prune drops the lesser ones
    plan = tmp_path / "prune.json"
    run_cli("prune", "analyze", "--no-audit", "--similarity", "0.98", "--catalog", catalog, "--out", plan)
    drops = json.loads(plan.read_text())["actions"]
    assert drops and {a["type"] for a in drops} == {"drop_crop"}
    run_cli("prune", "apply", "--plan", plan)

    assert sorted(p.name for p in out.glob("*.fsz")) == bundles   # rewritten in place, none added
    for label in {a["faceset"] for a in drops}:
        manifest = json.loads((out / label / "manifest.json").read_text())
        kept = [_digest((out / label / face["file"]).read_bytes()) for face in manifest["faces"]]
        gone = [_digest((out / "_dropped" / label / a["file"]).read_bytes()) for a in drops if a["faceset"] == label]
        top, everything = _members(out / f"{label}_top50.fsz"), _members(out / f"{label}_all.fsz")
        assert top == kept[:50] and everything == kept
        assert not set(gone) & (set(top) | set(everything))
        assert tree_hashes(out)[f"{label}_top50.fsz"] != exported[f"{label}_top50.fsz"]

    run_cli("undo", "--catalog", catalog)
    assert tree_hashes(out) == exported
    assert catalog_dump(catalog) == catalog_before

    # a new faceset (an era set) gets bundles of the sizes its parent's faceset has
    plan = tmp_path / "age.json"
    run_cli("age-split", "analyze", str(people["Tony_Blair"][0]), "--min-era", "5", "--catalog", catalog, "--out", plan)
    eras = json.loads(plan.read_text())["actions"]
    run_cli("age-split", "apply", "--plan", plan)
    assert eras
    for era in eras:
        folder = out / "_thin" if era["thin"] else out
        assert bundles_of(folder, era["folder"]) == [f"{era['folder']}_all.fsz", f"{era['folder']}_top50.fsz"]
    run_cli("undo", "--catalog", catalog)
    assert tree_hashes(out) == exported
