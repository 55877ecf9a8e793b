"""What embed's commit does with a file's bytes once read (scan.content.resolve), and the files
repository methods it added, on a temporary catalog."""
from __future__ import annotations

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import FileStatus
from facesets.scan import FileJob, Found, resolve


def _pending_job(cat, path: str) -> FileJob:
    return next(FileJob.pending(row) for row in cat.files.pending_files() if row.path == path)


def test_pending_files_and_set_sha256(tmp_path):
    with new_catalog(tmp_path) as cat:
        cat.files.add_pending("/p/b.jpg", 20, 2, None, run_id=None)
        cat.files.add_pending("/p/a.jpg", 10, 1, None, run_id=None)
        add_photo(cat, "/p/done.jpg", [unit(1)])
        rows = cat.files.pending_files()
        assert [(r.path, r.size, r.mtime_ns, r.sha256) for r in rows] == [("/p/b.jpg", 20, 2, None), ("/p/a.jpg", 10, 1, None)]
        cat.files.set_sha256(rows[0].id, "s-b")
        assert cat.files.get(rows[0].id).sha256 == "s-b" and cat.files.by_sha256("s-b").path == "/p/b.jpg"


def test_new_bytes_then_a_copy_then_content_back_from_missing(tmp_path):
    with new_catalog(tmp_path) as cat:
        for path in ("/p/a.jpg", "/p/copy.jpg", "/p/moved.jpg"):
            cat.files.add_pending(path, 10, 1, None, run_id=None)
        gone = add_photo(cat, "/old/gone.jpg", [unit(1)], run_id=1)
        cat.files.mark_missing(gone)
        first = _pending_job(cat, "/p/a.jpg")
        assert resolve(cat.files, first, "s-a", run_id=1) == (Found.NEW, first.file_id)
        copy = _pending_job(cat, "/p/copy.jpg")
        assert resolve(cat.files, copy, "s-a", run_id=1) == (Found.ALIAS, first.file_id)
        assert cat.files.get(copy.file_id) is None and cat.files.aliases_of(first.file_id) == ["/p/copy.jpg"]
        moved = _pending_job(cat, "/p/moved.jpg")
        assert resolve(cat.files, moved, "sha-/old/gone.jpg", run_id=1) == (Found.BACK, gone)
        back = cat.files.get(gone)
        assert back.path == "/p/moved.jpg" and back.status == FileStatus.DONE and cat.files.get(moved.file_id) is None


def test_a_pending_file_with_known_content_is_embedded_as_it_is(tmp_path):
    with new_catalog(tmp_path) as cat:
        cat.files.add_pending("/p/a.jpg", 10, 1, "s-a", run_id=None)
        job = _pending_job(cat, "/p/a.jpg")
        assert resolve(cat.files, job, "s-a", run_id=1) == (Found.PENDING, job.file_id)


def test_an_embedded_file_read_again_touched_or_changed(tmp_path):
    with new_catalog(tmp_path) as cat:
        file_id = add_photo(cat, "/p/a.jpg", [unit(1)])
        touched = FileJob(file_id, "/p/a.jpg", 100, 5, "sha-/p/a.jpg", reread=True)
        assert touched.unchanged("sha-/p/a.jpg") and not touched.unchanged("other")
        assert resolve(cat.files, touched, "sha-/p/a.jpg", run_id=2) == (Found.SAME, file_id)
        assert cat.files.get(file_id).mtime_ns == 5 and cat.files.get(file_id).status == FileStatus.DONE
        changed = FileJob(file_id, "/p/a.jpg", 120, 6, "sha-/p/a.jpg", reread=True)
        found, new_id = resolve(cat.files, changed, "s-new", run_id=3)
        assert found == Found.NEW and new_id != file_id
        assert cat.files.get(new_id).path == "/p/a.jpg" and cat.files.get(new_id).status == FileStatus.PENDING
        old = cat.files.get(file_id)  # the old bytes are gone: faces kept, path freed
        assert old.status == FileStatus.MISSING and old.path.startswith("/p/a.jpg\x00missing:")
