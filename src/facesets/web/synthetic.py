"""A synthetic catalog of many people, written straight with SQL: the web UI's scale test and
benchmark need thousands of people, and embedding real photos for that would take hours.
Without `photos` the files do not exist (thumbnails are placeholders); with them, every
synthetic file is a symlink in `link_dir` to one of the real photos, so thumbnails are real work."""
from __future__ import annotations

import hashlib

import numpy as np

from pathlib import Path

from facesets.catalog import Catalog, to_blob


def add_synthetic_people(catalog: Catalog, n_people: int, faces_per_person: int = 3, seed: int = 0,
                         named_every: int = 10, photos: list[Path] | None = None,
                         link_dir: Path | None = None) -> None:
    """n_people people (every `named_every`-th named 'Synthetic NNNNN') of random faces."""
    model = catalog.embedding_model() or catalog.register_model("dlib", "resnet_v1", 128, "hog", "dlib5")
    rng = np.random.default_rng(seed)
    if link_dir is not None:
        Path(link_dir).mkdir(parents=True, exist_ok=True)
    with catalog.transaction() as conn:
        start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM files").fetchone()[0]
        for i in range(n_people):
            name = f"Synthetic {i:05d}" if named_every and i % named_every == 0 else None
            pid = conn.execute("INSERT INTO people(name) VALUES (?)", (name,)).lastrowid
            centre = rng.standard_normal(model.dim).astype(np.float32)
            for j in range(faces_per_person):
                fid = start + i * faces_per_person + j + 1
                path = f"/nonexistent/synthetic/{i:05d}/{j}.jpg"
                if photos and link_dir is not None:
                    link = Path(link_dir) / f"{i:05d}_{j}.jpg"
                    link.symlink_to(Path(photos[(fid - start - 1) % len(photos)]).resolve())
                    path = str(Path(link_dir).resolve() / link.name)
                conn.execute("INSERT INTO files(id, path, size, mtime_ns, sha256, width, height, status, model_id, "
                             "input_mode, n_faces, taken_at) VALUES (?, ?, 1, 0, ?, 250, 250, 'done', ?, 'photos', 1, ?)",
                             (fid, path, hashlib.sha256(path.encode()).hexdigest(), model.id,
                              f"20{(i % 20):02d}-01-{(j % 28) + 1:02d}T12:00:00"))
                vector = centre + 0.3 * rng.standard_normal(model.dim).astype(np.float32)
                vector /= np.linalg.norm(vector)
                conn.execute("INSERT INTO faces(file_id, face_index, x1, y1, x2, y2, det_score, short_edge, embedding, "
                             "model_id, person_id, assigned_by, quality) VALUES (?, 0, 70, 70, 180, 180, 1.0, 110, ?, ?, ?, "
                             "'cluster', ?)", (fid, to_blob(vector), model.id, pid, float(rng.uniform(0.3, 0.9))))
