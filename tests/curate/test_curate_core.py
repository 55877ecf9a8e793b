"""Curation core on a real catalog: consolidate merges a split identity and never two people;
apply then undo restores the export tree and the catalog exactly."""
from __future__ import annotations

import pytest

import json
import zipfile

from curatehelp import DLIB_CUTS, SPLIT, _library, catalog_dump, folder_of, library, tree_hashes  # noqa: F401
from conftest import run_cli

from facesets.catalog import Catalog


@pytest.mark.slow
def test_consolidate_merges_split_identity_only_and_undo_restores(library):
    tree_before, catalog_before = tree_hashes(library.out), catalog_dump(library.catalog)
    plan = library.plan("consolidate", *DLIB_CUTS)
    merges = [a for a in plan["actions"] if a["type"] == "merge_people" and not a["uncertain"]]
    split = set(library.people[SPLIT])
    assert [set([m["into"], *m["sources"]]) for m in merges] == [split], plan["groups"]
    # uncertain groups (if any) never mix identities either
    identity_of = {p: name for name, ids in library.people.items() for p in ids}
    for action in plan["actions"]:
        if action["type"] == "merge_people":
            assert len({identity_of[p] for p in [action["into"], *action["sources"]]}) == 1
    assert library.plan_path("consolidate").with_suffix(".html").read_text().count("PRIMARY") == len(plan["groups"])
    with Catalog.open(library.catalog) as cat:
        assert cat.operations.get(plan["operation_id"]).status == "planned"

    run_cli("consolidate", "apply", "--plan", library.plan_path("consolidate"))
    with Catalog.open(library.catalog) as cat:
        secondary = next(iter(split - {merges[0]["into"]}))
        row = cat.people.get(secondary)
        assert (row.merged_into, row.status) == (merges[0]["into"], "merged")
        assert cat.faces.ids_of_person(secondary) == []
    manifest = json.loads((library.out / "manifest.json").read_text())
    assert [m["faceset"] for m in manifest["merged"]] == [folder_of(secondary)]
    assert (library.out / "_merged" / folder_of(secondary) / "manifest.json").is_file()
    assert (library.out / "_merged" / "single" / f"{folder_of(secondary)}.png").is_file()
    assert (library.out / "_merged" / "photos" / folder_of(secondary)).is_dir()
    assert not list(library.out.glob(f"{folder_of(secondary)}*"))
    # the secondary's crops joined the primary's faceset: manifest, files and bundle agree
    primary = json.loads((library.out / folder_of(merges[0]["into"]) / "manifest.json").read_text())
    with Catalog.open(library.catalog) as cat:
        faces = set(cat.faces.ids_of_person(merges[0]["into"]))
    assert {f["face_id"] for f in primary["faces"]} == faces
    assert len(list((library.out / folder_of(merges[0]["into"])).glob("*.png"))) == len(faces)
    with zipfile.ZipFile(library.out / f"{folder_of(merges[0]['into'])}_all.fsz") as bundle:
        assert bundle.namelist() == [f"{i}.png" for i in range(len(faces))]
    assert manifest["curation"][-1]["command"] == "consolidate"
    assert tree_hashes(library.out) != tree_before

    # applying the same plan twice is refused
    assert run_cli("consolidate", "apply", "--plan", library.plan_path("consolidate"), check=False).returncode == 2
    run_cli("undo", "--catalog", library.catalog)
    assert tree_hashes(library.out) == tree_before
    assert catalog_dump(library.catalog) == catalog_before
    assert run_cli("undo", "--catalog", library.catalog, check=False).returncode == 2
