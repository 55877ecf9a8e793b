"""Every curation command against the tree `facesets export` really writes: each apply changes
it, and undoing them all (newest first) gives back the exported tree byte for byte."""
from __future__ import annotations

import shutil

import pytest

from curatehelp import DLIB_CUTS, SPLIT, _library, catalog_dump, make_people, tree_hashes  # noqa: F401
from conftest import run_cli


@pytest.mark.slow
def test_apply_then_undo_every_command_on_a_real_export(_library, tmp_path):
    catalog = tmp_path / "catalog.db"
    shutil.copyfile(_library[0], catalog)
    people = make_people(catalog, SPLIT)
    out = tmp_path / "out"
    run_cli("export", "--catalog", catalog, out, "-t", "roop", "-t", "single", "-t", "folders")
    exported, catalog_before = tree_hashes(out), catalog_dump(catalog)
    assert any(p.endswith("_all.fsz") for p in exported)

    applied, changed = [], []
    for command, *args in (("dedup",), ("prune", "--quiet"), ("consolidate", *DLIB_CUTS),
                           ("age-split", str(people["Tony_Blair"][0]), "--min-era", "5")):
        plan = tmp_path / f"{command}.json"
        run_cli(command, "analyze", *args, "--catalog", catalog, "--out", plan)
        before = tree_hashes(out)
        run_cli(command, "apply", "--plan", plan)
        applied.append((command, before))
        if tree_hashes(out) != before:
            changed.append(command)
    # export already collapsed the planted near-duplicates and re-detected every crop, so dedup
    # and prune may find nothing here; the merge and the era set always change the tree
    assert {"consolidate", "age-split"} <= set(changed)
    for command, before in reversed(applied):
        run_cli("undo", "--catalog", catalog)
        assert tree_hashes(out) == before, command
    assert tree_hashes(out) == exported
    assert catalog_dump(catalog) == catalog_before
