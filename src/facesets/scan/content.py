"""What a path's bytes are to the catalog, decided once they have been read.

The scan only stats paths: a new path becomes a pending record without content, a changed one
a `FileJob` to read again. Embed's per-file work reads each file once, on this machine or on a
cluster worker, and hashes the bytes it decodes; `resolve` then runs at commit, in the order
the files were handed out, so byte duplicates come out the same wherever the work ran: the
first path holding some bytes is the file, every later one an alias.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from facesets.catalog import AliasRow, FileRow, FileStatus


@dataclass(frozen=True)
class FileJob:
    """One file for embed to read: small and plain, so it travels to a worker as it is."""
    file_id: int            # its record: pending, or (reread) an embedded file that changed on disk
    path: str               # as the catalog stores it
    size: int               # as the scan saw it
    mtime_ns: int
    sha256: str | None      # the content its record holds (None: a new path, not read yet)
    reread: bool = False    # an embedded file whose size or date changed: decoded only if its bytes did

    @classmethod
    def pending(cls, row: FileRow) -> "FileJob":
        return cls(row.id, row.path, row.size, row.mtime_ns, row.sha256)

    def unchanged(self, sha256: str) -> bool:
        """These bytes are what an embedded file already holds the faces of: nothing to decode."""
        return self.reread and sha256 == self.sha256


class Found(enum.StrEnum):
    NEW = "new"          # content not in the catalog before: embed it
    PENDING = "pending"  # a pending record's own content: embed it
    ALIAS = "alias"      # a copy of content the catalog holds: its faces are that file's
    BACK = "back"        # content marked missing, found again at this path
    SAME = "same"        # an embedded file touched, its bytes unchanged


def resolve(files, job: FileJob, sha256: str, run_id: int | None) -> tuple[Found, int]:
    """Record what the bytes read for `job` are; returns what they were found to be and the file
    record that holds them (to embed, for NEW and PENDING)."""
    row = files.get(job.file_id)
    if row is not None and row.sha256 == sha256:
        if job.reread:
            files.touched(row.id, job.size, job.mtime_ns, run_id)
            return Found.SAME, row.id
        return Found.PENDING, row.id
    if row is not None and row.sha256 is not None:  # other bytes than the record's: it lets the path go
        detach(files, row, job.path)
        row = None
    owner = files.by_sha256(sha256)
    if owner is not None:
        if row is not None:
            files.delete(row.id)  # the new path's record gives way to the content's own
        if owner.status == FileStatus.MISSING:
            files.moved_back(owner.id, job.path, job.size, job.mtime_ns)
            return Found.BACK, owner.id
        files.add_alias(job.path, owner.id, job.size, job.mtime_ns, run_id)
        return Found.ALIAS, owner.id
    if row is not None:
        files.set_sha256(row.id, sha256)
        return Found.NEW, row.id
    files.add_pending(job.path, job.size, job.mtime_ns, sha256, run_id)
    return Found.NEW, files.id_for_path(job.path)


def detach(files, known: FileRow | AliasRow, key: str) -> None:
    """A known path now holds other bytes: take it away from the content it used to name."""
    if isinstance(known, AliasRow):
        files.delete_alias(known.id)
        return
    if known.sha256 is None and files.forget_if_faceless(known.id):
        return  # an error row without content: forgotten, the path is read afresh
    if not files.promote_alias(known.id):  # another copy of the old bytes becomes the file's path,
        files.mark_missing(known.id, free_path=key)  # else they are gone: faces kept, path freed
