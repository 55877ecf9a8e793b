"""dlib holds the GIL, so with more than one worker it analyses and embeds in worker processes:
the catalog must come out the same as from the single-process path."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from facesets.catalog import Catalog
from facesets.embed import EmbedOptions, embed  # not `from facesets import embed`: that is the subpackage
from facesets.embed import pipeline
from facesets.engines import EngineOptions, load_engine

from conftest import FACES, PHOTOS, face_rows


def _faces(db):
    with Catalog.open(db, readonly=True) as catalog:
        rows = sorted(((r["path"], r["face_index"]), (r["path"], r["status"], r["x1"], r["y1"], r["x2"], r["y2"],
                                                      r["embedding"])) for r in face_rows(catalog))
        statuses = sorted((f.path, f.status, f.n_faces) for f in catalog.files.all())
    return statuses, [row for _, row in rows]


@pytest.mark.slow
def test_worker_processes_embed_like_one_process(tmp_path, monkeypatch):
    src = tmp_path / "photos"
    src.mkdir()
    people = sorted(p for p in (FACES / "lfw158").iterdir() if p.is_dir())[:6]
    for person in people:
        for photo in sorted(person.glob("*.jpg"))[:3]:
            shutil.copy(photo, src / photo.name)
    shutil.copy(next(p for p in sorted(PHOTOS.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg")), src)
    (src / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    n_files = sum(1 for _ in src.iterdir())
    assert n_files >= pipeline.PROCESS_MIN_FILES
    engine = load_engine(EngineOptions(engine="dlib"))

    started = []
    real_pool = pipeline.engine_pool
    monkeypatch.setattr(pipeline, "engine_pool", lambda *a: started.append(a[1]) or real_pool(*a))
    results = {}
    for workers in (1, 2):
        with Catalog.open(tmp_path / f"w{workers}.db", create=True) as cat:
            results[workers] = embed(cat, [src], engine=engine, options=EmbedOptions(workers=workers))
    assert started == [2]                       # only the 2-worker run used processes
    assert results[2].faces == results[1].faces >= 18 and results[2].errors == results[1].errors == 1
    (files1, faces1), (files2, faces2) = _faces(tmp_path / "w1.db"), _faces(tmp_path / "w2.db")
    assert files1 == files2
    assert [r[:6] for r in faces1] == [r[:6] for r in faces2]
    cosines = [float(np.dot(a[6], b[6])) for a, b in zip(faces1, faces2)]
    assert min(cosines) > 0.9999
