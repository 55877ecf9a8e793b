"""Catalog: transactions (re-entrant, all or nothing), the re-entrant writer lock, the stage
lifecycle, batched writes, opening and refusing."""
from __future__ import annotations

import sqlite3
import time

import pytest

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import Catalog, CatalogBusy, CatalogError, RunStatus
from facesets.catalog.schema import SCHEMA_VERSION


def test_transaction_is_all_or_nothing_and_nested_ones_join(tmp_path):
    with new_catalog(tmp_path) as cat:
        with pytest.raises(RuntimeError):
            with cat.transaction():
                cat.set_meta("a", "1")
                with cat.transaction():          # joins the outer one
                    cat.set_meta("b", "2")
                raise RuntimeError("boom")
        assert cat.get_meta("a") is None and cat.get_meta("b") is None
        with cat.transaction():
            with cat.transaction():
                cat.set_meta("c", "3")
        assert cat.get_meta("c") == "3"


def test_writer_lock_is_reentrant_and_exclusive(tmp_path):
    with new_catalog(tmp_path) as first, Catalog.open(tmp_path / "c.db") as second:
        first.acquire_writer_lock("run")
        first.acquire_writer_lock("embed")       # a stage inside `facesets run`
        first.release_writer_lock()
        assert first.holds_writer_lock
        with pytest.raises(CatalogBusy, match="in use by another facesets process"):
            second.acquire_writer_lock("other")
        assert second.writer_active()
        first.release_writer_lock()
        assert not first.holds_writer_lock
        with second.writer("other"):
            assert first.writer_active()


def test_stage_records_done_interrupted_and_failed_runs(tmp_path):
    with new_catalog(tmp_path) as cat:
        with cat.stage("cluster", {"k": 3}) as run:
            run.stats["people"] = 2
        done = cat.runs.last("cluster")
        assert (done.status, done.params, done.stats) == (RunStatus.DONE, {"k": 3}, {"people": 2})
        assert not cat.holds_writer_lock
        with pytest.raises(KeyboardInterrupt):
            with cat.stage("embed") as run:
                add_photo(cat, "/p/kept.jpg", [unit(1)], run.id)   # committed before Ctrl-C: kept
                run.stats["files"] = 1
                raise KeyboardInterrupt
        assert cat.runs.last("embed").status == RunStatus.INTERRUPTED
        assert cat.runs.last("embed").stats == {"files": 1}
        assert cat.files.id_for_path("/p/kept.jpg") is not None
        with pytest.raises(ValueError):
            with cat.stage("export"):
                raise ValueError("disk on fire")
        assert cat.runs.last("export").status == RunStatus.FAILED
        assert not cat.holds_writer_lock


def test_a_stage_inside_a_held_lock_keeps_it(tmp_path):
    with new_catalog(tmp_path) as cat, Catalog.open(tmp_path / "c.db") as other:
        with cat.writer("run"):
            with cat.stage("embed"):
                pass
            assert cat.holds_writer_lock          # between stages: still ours
            with pytest.raises(CatalogBusy):
                other.acquire_writer_lock("cluster")
        assert not cat.holds_writer_lock


def test_batched_writes_commit_when_asked_and_roll_back_on_error(tmp_path):
    with new_catalog(tmp_path) as cat:
        with cat.batched_writes(seconds=60) as writes:
            cat.files.record_error("/p/a.jpg", "unreadable", None)
            writes.commit(force=False)            # not 60 s yet: still open
            assert writes.opened_at is not None
            writes.commit()
            assert writes.opened_at is None
            cat.files.record_error("/p/b.jpg", "unreadable", None)
        with pytest.raises(RuntimeError):
            with cat.batched_writes(seconds=0):
                cat.files.record_error("/p/c.jpg", "unreadable", None)
                raise RuntimeError
        assert [path for path, _ in cat.errors()] == ["/p/a.jpg", "/p/b.jpg"]


def test_batched_writes_let_readers_in_between(tmp_path):
    with new_catalog(tmp_path) as cat, Catalog.open(tmp_path / "c.db") as reader:
        with cat.batched_writes(seconds=0) as writes:
            cat.files.record_error("/p/a.jpg", "unreadable", None)
            time.sleep(0.01)
            writes.commit(force=False)            # past the bound: committed
            assert reader.counts()["errors"] == 1


def test_opening_refuses_what_is_not_a_catalog(tmp_path):
    with pytest.raises(CatalogError, match="no catalog"):
        Catalog.open(tmp_path / "none.db", create=False)
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(CatalogError, match="folder"):
        Catalog.open(tmp_path / "folder.db")
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(CatalogError, match="not a facesets catalog"):
        Catalog.open(tmp_path / "junk.db")
    new_catalog(tmp_path, "newer.db").close()
    with sqlite3.connect(tmp_path / "newer.db") as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(CatalogError, match="newer facesets"):
        Catalog.open(tmp_path / "newer.db")


def test_one_model_per_catalog_and_counts(tmp_path):
    with new_catalog(tmp_path) as cat:
        with pytest.raises(CatalogError, match="refusing to add insightface"):
            cat.register_model("insightface", "buffalo_l/w600k_r50.onnx", 512, "det_10g", "arcface5")
        add_photo(cat, "/p/one.jpg", [unit(1), unit(0, 1)])
        add_photo(cat, "/p/none.jpg", [])
        counts = cat.counts()
        assert (counts["files"], counts["faces"], counts["embedded"], counts["no_face"], counts["multi_face"]) == \
            (2, 2, 1, 1, 0)
        assert cat.embedding_model().key == "dlib/resnet_v1" and cat.embedding_dim() == 8
