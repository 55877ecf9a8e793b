"""Every curation command (occlusion on a tiny random-weight CLIP) against the tree `facesets export` really writes: each apply changes
it, and undoing them all (newest first) gives back the exported tree byte for byte."""
from __future__ import annotations

import shutil

import pytest

from curatehelp import DLIB_CUTS, SPLIT, _library, catalog_dump, make_people, tiny_clip, tree_hashes  # noqa: F401
from conftest import run_cli


@pytest.mark.slow
def test_apply_then_undo_every_command_on_a_real_export(_library, tiny_clip, tmp_path):
    catalog = tmp_path / "catalog.db"
    shutil.copyfile(_library[0], catalog)
    people = make_people(catalog, SPLIT)
    out = tmp_path / "out"
    run_cli("export", "--catalog", catalog, out, "-t", "roop", "-t", "single", "-t", "folders")
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
