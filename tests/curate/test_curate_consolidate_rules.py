"""consolidate's rules, in-process: a user-named person stays primary even when smaller;
uncertain groups are applied only with include_uncertain."""
from __future__ import annotations

import pytest

from curatehelp import SPLIT, _library, catalog_dump, library, tree_hashes  # noqa: F401

from facesets.catalog import Catalog
from facesets.curate import CurationError, analyze, apply, consolidate, undo


@pytest.mark.slow
def test_named_primary_and_uncertain_groups_need_consent(library):
    tree_before, catalog_before = tree_hashes(library.out), catalog_dump(library.catalog)
    big, small = library.people[SPLIT]
    sisters = {library.people["Serena_Williams"][0], library.people["Venus_Williams"][0]}
    with Catalog.open(library.catalog) as cat:
        sizes = {p: len(cat.faces.ids_of_person(p)) for p in (big, small)}
        if sizes[small] > sizes[big]:
            big, small = small, big
        unnamed = cat.people.snapshot([small])
        cat.people.rename(small, "Colin")
        # a looser uncertain cut (0.04) takes in the Williams sisters (centroids 0.032 apart)
        plan = analyze(cat, "consolidate", {}, lambda: consolidate.analyze(cat, library.out, edge=0.015, confident=0.04),
                       root=library.out)
        merges = {frozenset([a["into"], *a["sources"]]): a for a in plan["actions"] if a["type"] == "merge_people"}
        assert merges[frozenset({big, small})]["into"] == small and not merges[frozenset({big, small})]["uncertain"]
        assert merges[frozenset(sisters)]["uncertain"]
        twin = analyze(cat, "consolidate", {}, lambda: consolidate.analyze(cat, library.out, edge=0.015, confident=0.04),
                       root=library.out)
        apply(cat, plan["operation_id"])
        with pytest.raises(CurationError, match="stale"):   # its merge already happened
            apply(cat, twin["operation_id"])
        statuses = {p.id: p.status for p in cat.people.all()}
        assert statuses[big] == "merged" and statuses[small] == "active"
        assert all(statuses[p] == "active" for p in sisters)
        undo(cat)
        cat.people.restore(unnamed)
    assert tree_hashes(library.out) == tree_before
    assert catalog_dump(library.catalog) == catalog_before
