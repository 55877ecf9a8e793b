"""Runs, curation operations, exports, and the integrity reads doctor builds on."""
from __future__ import annotations

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import OperationStatus, RunStatus


def test_runs(tmp_path):
    with new_catalog(tmp_path) as cat:
        first = cat.runs.start("cluster", {"k": 30})
        cat.runs.finish(first, RunStatus.DONE, {"people": 3})
        second = cat.runs.start("refine", {})
        assert cat.runs.finished(("cluster", "refine")) == {"cluster"}
        assert [r.id for r in cat.runs.running()] == [second]
        cat.runs.mark_interrupted([second])
        assert cat.runs.get(second).status == RunStatus.INTERRUPTED and cat.runs.get(second).finished_at
        assert cat.runs.last("cluster").stats == {"people": 3} and cat.runs.last("embed") is None
        assert [r.command for r in cat.runs.all()] == ["cluster", "refine"]


def test_operations_plan_apply_undo(tmp_path):
    with new_catalog(tmp_path) as cat:
        op = cat.operations.add("dedup", {"actions": [{"type": "drop_crop"}]})
        stored = cat.operations.get(op)
        assert stored.status == OperationStatus.PLANNED and stored.plan["operation_id"] == op
        assert cat.operations.last_applied() is None
        cat.operations.mark_applied(op, {"tree": [], "catalog": {}})
        assert cat.operations.last_applied().id == op and cat.operations.get(op).journal == {"tree": [], "catalog": {}}
        cat.operations.mark_undone(op)
        assert cat.operations.get(op).status == OperationStatus.UNDONE and cat.operations.last_applied() is None


def test_exports(tmp_path):
    with new_catalog(tmp_path) as cat:
        assert cat.exports.latest() is None
        cat.exports.add(tmp_path / "one", ["roop"], {"top_n": 30}, run_id=None)
        cat.exports.add(tmp_path / "two", ["roop", "folders"], {"top_n": 50}, run_id=None)
        latest = cat.exports.latest()
        assert latest.out == str(tmp_path / "two") and latest.params == {"top_n": 50}
        assert [e.out for e in cat.exports.history(1)] == [str(tmp_path / "two")]


def test_a_crop_checked_before_is_not_checked_again(tmp_path):
    """The same PNG bytes and the same detector: the count comes from the catalog."""
    from facesets.export.crops import checked_counts

    looked_at = []

    class Checker:   # one face in a crop whose bytes start with b"one", two otherwise
        def counts(self, pngs):
            looked_at.append(sorted(pngs))
            return [1 if png.startswith(b"one") else 2 for png in pngs]

    with new_catalog(tmp_path) as cat:
        first = checked_counts(cat, Checker(), "dlib/hog/rule1", {1: b"one-a", 2: b"two-b"})
        again = checked_counts(cat, Checker(), "dlib/hog/rule1", {3: b"one-a", 4: b"two-b", 5: b"one-c"})
        other = checked_counts(cat, Checker(), "insightface/buffalo_l/rule1", {6: b"two-b"})
        assert cat.exports.crop_faces("dlib/hog/rule1", ["not a digest seen"]) == {}
    assert first == {1: 1, 2: 2} and again == {3: 1, 4: 2, 5: 1} and other == {6: 2}
    assert looked_at == [[b"one-a", b"two-b"], [b"one-c"], [b"two-b"]]


def test_integrity_reads_a_healthy_catalog_as_healthy(tmp_path):
    with new_catalog(tmp_path) as cat:
        add_photo(cat, "/p/a.jpg", [unit(1)])
        add_photo(cat, "/p/b.jpg", [])
        assert cat.integrity.quick_check() == []
        assert cat.integrity.orphan_face_files() == [] and cat.integrity.orphan_aliases() == []
        assert cat.integrity.missing_people() == [] and cat.integrity.dangling_exclusions() == []
        assert cat.integrity.faceless_done() == [] and cat.integrity.merge_links() == {}
        assert [row[1:3] for row in cat.integrity.model_face_counts()] == [("dlib", "resnet_v1")]
        assert [path for _, path, _ in cat.integrity.present_files()] == ["/p/a.jpg", "/p/b.jpg"]
        tables = cat.integrity.dump()
        assert {"files", "faces", "people", "runs"} <= set(tables)
        columns, rows = tables["faces"]
        assert "embedding" in columns and len(rows) == 1
        cat.integrity.drop_faces_and_requeue([cat.faces.all()[0].id])
        assert cat.counts()["pending"] == 1 and cat.counts()["faces"] == 0
