"""Analysed files into the catalog: one transaction per batch, by the only writer.

Batches are committed in the order they were handed out, wherever they were analysed (threads,
worker processes, a Dask cluster), and each file's bytes are resolved here (scan.content): the
first path holding some bytes becomes the file, later ones aliases. Face ids, file ids and
aliases therefore come out the same on every path.
"""
from __future__ import annotations

from facesets.catalog import Catalog, FileStatus, NewFace
from facesets.embed.extras import commit_extras
from facesets.scan import Found, resolve


def commit_batch(catalog: Catalog, works: list, *, model_id: int, run_id: int, input_mode: str, result) -> None:
    """`works` (embed.pipeline.FileWork, embeddings in hand) into the catalog; counts into `result`."""
    with catalog.transaction():
        for work in works:
            _commit_file(catalog, work, model_id, run_id, input_mode, result)


def _commit_file(catalog: Catalog, work, model_id: int, run_id: int, input_mode: str, result) -> None:
    files = catalog.files
    if work.sha256 is None:  # unreadable: an error without content at its path
        files.record_error(work.job.path, work.error, run_id)
        return
    found, file_id = resolve(files, work.job, work.sha256, run_id)
    result.files_new += found == Found.NEW
    result.aliases_new += found == Found.ALIAS
    if found not in (Found.NEW, Found.PENDING):
        return
    if not work.decoded:  # only bytes the catalog already held are left undecoded
        raise RuntimeError(f"{work.job.path}: new content was not decoded")
    if work.error is not None:
        files.mark_error(file_id, work.error, run_id)
        return
    result.decoded += 1
    faces = work.faces
    found_faces = len(faces)
    if input_mode == "crops":  # the largest face; the file still says how many there were
        faces = [largest(faces)] if faces else []
    catalog.faces.replace_unassigned(
        file_id, [NewFace(f["box"], f["landmarks"], f["score"], f["short_edge"], f["sharpness"], f["embedding"])
                  for f in faces],
        model_id=model_id, input_mode=input_mode, run_id=run_id)
    commit_extras(catalog, file_id, faces, run_id)   # video frames, names from XMP regions
    if input_mode == "crops" and found_faces != 1:
        status = FileStatus.NOFACE if found_faces == 0 else FileStatus.MULTIFACE
    else:
        status = FileStatus.DONE if faces else FileStatus.NOFACE
    files.mark_embedded(file_id, status, width=work.width, height=work.height, taken_at=work.taken_at,
                        model_id=model_id, input_mode=input_mode, n_faces=found_faces, run_id=run_id)
    result.embedded_files += 1
    result.faces += len(faces)
    result.no_face += int(not faces)


def largest(faces: list[dict]) -> dict | None:
    """The face with the largest box."""
    return max(faces, key=lambda f: float((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1])), default=None)
