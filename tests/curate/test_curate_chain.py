"""Plans stack: applies undone in reverse order restore everything; a plan made stale by another
apply is refused before anything changes."""
from __future__ import annotations

import pytest

from curatehelp import DLIB_CUTS, _library, catalog_dump, library, tree_hashes  # noqa: F401
from conftest import run_cli


@pytest.mark.slow
def test_stacked_applies_undo_in_reverse_and_stale_plan_refused(library):
    original_tree, original_catalog = tree_hashes(library.out), catalog_dump(library.catalog)
    library.plan("dedup")
    library.plan("prune", "--no-audit")
    library.plan("consolidate", *DLIB_CUTS)

    run_cli("prune", "apply", "--plan", library.plan_path("prune"))
    after_prune = tree_hashes(library.out), catalog_dump(library.catalog)
    stale = run_cli("dedup", "apply", "--plan", library.plan_path("dedup"), check=False)
    assert stale.returncode == 2 and "stale" in stale.stderr
    assert (tree_hashes(library.out), catalog_dump(library.catalog)) == after_prune

    run_cli("consolidate", "apply", "--plan", library.plan_path("consolidate"))
    assert tree_hashes(library.out) != after_prune[0]
    run_cli("undo", "--catalog", library.catalog)
    assert (tree_hashes(library.out), catalog_dump(library.catalog)) == after_prune
    run_cli("undo", "--catalog", library.catalog)
    assert tree_hashes(library.out) == original_tree
    assert catalog_dump(library.catalog) == original_catalog
    assert not (library.out / "_dropped").exists() and not (library.out / "_merged").exists()


@pytest.mark.slow
def test_undo_refuses_a_tree_changed_since_apply(library):
    original_tree, original_catalog = tree_hashes(library.out), catalog_dump(library.catalog)
    library.plan("consolidate", *DLIB_CUTS)
    run_cli("consolidate", "apply", "--plan", library.plan_path("consolidate"))
    applied_tree, applied_catalog = tree_hashes(library.out), catalog_dump(library.catalog)
    manifest = library.out / "manifest.json"
    kept = manifest.read_bytes()
    manifest.write_text("{}")        # e.g. a re-export rewrote it
    proc = run_cli("undo", "--catalog", library.catalog, check=False)
    assert proc.returncode == 2 and "cannot undo" in proc.stderr
    assert catalog_dump(library.catalog) == applied_catalog
    manifest.write_bytes(kept)
    assert tree_hashes(library.out) == applied_tree
    run_cli("undo", "--catalog", library.catalog)
    assert (tree_hashes(library.out), catalog_dump(library.catalog)) == (original_tree, original_catalog)
