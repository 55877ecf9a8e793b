"""The files repository: paths, aliases, statuses, what embed and the trees read."""
from __future__ import annotations

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import AliasRow, FileRow, FileStatus


def test_files_aliases_and_lookups(tmp_path):
    with new_catalog(tmp_path) as cat:
        cat.files.add_pending("/a/x.jpg", 10, 1, "s1", run_id=None)
        file_id = cat.files.id_for_path("/a/x.jpg")
        cat.files.add_alias("/b/x.jpg", file_id, 10, 1, run_id=None)
        cat.files.add_alias("/a/copy.jpg", file_id, 10, 1, run_id=None)
        found = cat.files.lookup("/a/x.jpg")
        assert isinstance(found, FileRow) and found.status == FileStatus.PENDING and found.sha256 == "s1"
        alias = cat.files.lookup("/b/x.jpg")
        assert isinstance(alias, AliasRow) and alias.file_id == file_id
        assert cat.files.lookup("/nowhere.jpg") is None
        assert cat.files.id_for_path("/b/x.jpg") == file_id
        assert cat.files.by_sha256("s1").id == file_id and cat.files.by_sha256("s2") is None
        assert cat.files.locations([file_id]) == {file_id: [("/a/x.jpg", "s1"), ("/a/copy.jpg", "s1"),
                                                            ("/b/x.jpg", "s1")]}
        assert cat.files.byte_groups() == [{"kind": "bytes", "sha256": "s1", "file_id": file_id,
                                            "paths": ["/a/x.jpg", "/a/copy.jpg", "/b/x.jpg"]}]
        assert cat.files.aliases_of(file_id) == ["/a/copy.jpg", "/b/x.jpg"]
        assert cat.files.has_pending() and cat.files.pending() == [(file_id, "/a/x.jpg")]


def test_an_alias_takes_over_or_the_file_goes_missing(tmp_path):
    with new_catalog(tmp_path) as cat:
        cat.files.add_pending("/a/x.jpg", 10, 1, "s1", run_id=None)
        file_id = cat.files.id_for_path("/a/x.jpg")
        cat.files.add_alias("/b/x.jpg", file_id, 11, 2, run_id=None)
        cat.files.add_alias("/c/x.jpg", file_id, 12, 3, run_id=None)
        assert cat.files.promote_alias(file_id, usable=lambda path: path.startswith("/c"))
        assert cat.files.get(file_id).path == "/c/x.jpg" and cat.files.get(file_id).size == 12
        assert cat.files.aliases_of(file_id) == ["/b/x.jpg"]
        cat.files.delete_alias(cat.files.lookup("/b/x.jpg").id)
        assert not cat.files.promote_alias(file_id)
        cat.files.mark_missing(file_id, free_path="/c/x.jpg")
        gone = cat.files.get(file_id)
        assert gone.status == FileStatus.MISSING and gone.path.startswith("/c/x.jpg\x00missing:")
        assert cat.files.lookup("/c/x.jpg") is None          # the path is free for new content
        cat.files.moved_back(file_id, "/d/x.jpg", 12, 3)
        assert cat.files.get(file_id).status == FileStatus.PENDING   # never embedded: pending again


def test_errors_are_upserted_forgotten_and_restored(tmp_path):
    with new_catalog(tmp_path) as cat:
        cat.files.record_error("/a/locked", "unreadable folder", run_id=None)
        cat.files.record_error("/a/locked", "unreadable folder: Permission denied", run_id=None)
        assert cat.errors() == [("/a/locked", "unreadable folder: Permission denied")]
        [(error_id, path)] = cat.files.contentless_errors()
        assert path == "/a/locked"
        assert cat.files.forget_if_faceless(error_id) and cat.errors() == []
        file_id = add_photo(cat, "/a/y.jpg", [unit(1)], run_id=1)
        cat.files.mark_error(file_id, "truncated", run_id=2)
        cat.files.touched(file_id, 100, 2, run_id=None)            # same bytes again: restored
        assert cat.files.get(file_id).status == FileStatus.DONE and cat.files.get(file_id).error is None
        assert not cat.files.forget_if_faceless(file_id)          # it holds a face: kept


def test_embed_statuses_requeue_and_trees(tmp_path):
    with new_catalog(tmp_path) as cat:
        with_face = add_photo(cat, "/p/face.jpg", [unit(1)])
        without = add_photo(cat, "/p/none.jpg", [])
        cat.files.add_pending("/p/bad1.jpg", 1, 1, "b1", None)
        cat.files.add_pending("/p/bad2.jpg", 1, 1, "b2", None)
        cat.files.add_pending("/p/bad3.jpg", 1, 1, "b3", None)
        for path, reason in (("/p/bad1.jpg", "truncated"), ("/p/bad2.jpg", "truncated"), ("/p/bad3.jpg", "empty")):
            cat.files.mark_error(cat.files.id_for_path(path), reason, None)
        assert list(cat.files.error_reasons().items()) == [("truncated", 2), ("empty", 1)]
        assert cat.files.ids_with_status(FileStatus.NOFACE) == [without]
        assert cat.files.done_without_people() == [with_face]
        cat.files.requeue([with_face, cat.files.id_for_path("/p/bad1.jpg")], only_embedded=True)
        assert cat.files.get(with_face).status == FileStatus.PENDING and cat.files.get(with_face).n_faces is None
        assert cat.files.lookup("/p/bad1.jpg").status == FileStatus.ERROR      # not embedded: left alone
