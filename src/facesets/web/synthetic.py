"""A synthetic catalog of many people, written through the catalog's repositories: the web UI's
scale test and benchmark need thousands of people, and embedding real photos for that would take
hours. Without `photos` the files do not exist (thumbnails are placeholders); with them, every
synthetic file is a symlink in `link_dir` to one of the real photos, so thumbnails are real work."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from facesets.catalog import AssignedBy, Catalog, FileStatus, NewFace
from facesets.catalog.faces import QUALITY_COMPONENTS

BOX = np.array([70, 70, 180, 180], np.float32)   # every synthetic face, in a 250 x 250 photo
SPREAD = 0.25                                    # a person's faces around its centre (cosine ~0.03)
LOOSE = (0.3, 0.45)                              # faces in nobody: from as close as a member to ~0.09


def add_synthetic_people(catalog: Catalog, n_people: int, faces_per_person: int = 3, seed: int = 0,
                         named_every: int = 10, photos: list[Path] | None = None,
                         link_dir: Path | None = None, unassigned: int = 0) -> None:
    """n_people people (every `named_every`-th named 'Synthetic NNNNN') of random faces, and
    `unassigned` faces in nobody, each near a random person (some within dlib's match
    distance of it, some in the review band, some beyond): what the review queue works on."""
    model = catalog.embedding_model() or catalog.register_model("dlib", "resnet_v1", 128, "hog", "dlib5")
    rng = np.random.default_rng(seed)
    if link_dir is not None:
        Path(link_dir).mkdir(parents=True, exist_ok=True)
    made = 0

    def face(key: str, date: str, vector: np.ndarray) -> int:
        nonlocal made
        path = f"/nonexistent/synthetic/{key}.jpg"
        if photos and link_dir is not None:
            link = Path(link_dir) / f"{key.replace('/', '_')}.jpg"
            link.symlink_to(Path(photos[made % len(photos)]).resolve())
            path = str(Path(link_dir).resolve() / link.name)
        made += 1
        catalog.files.add_pending(path, 1, 0, hashlib.sha256(path.encode()).hexdigest(), None)
        file_id = catalog.files.lookup(path).id
        catalog.files.mark_embedded(file_id, FileStatus.DONE, width=250, height=250, taken_at=date, model_id=model.id,
                                    input_mode="photos", n_faces=1, run_id=None)
        catalog.faces.replace_unassigned(file_id, [NewFace(BOX, None, 1.0, 110.0, None, vector / np.linalg.norm(vector))],
                                         model_id=model.id, input_mode="photos", run_id=None)
        return catalog.faces.first_of_file(file_id)[0]

    centres = []
    with catalog.transaction():
        for i in range(n_people):
            name = f"Synthetic {i:05d}" if named_every and i % named_every == 0 else None
            person = catalog.people.create(name=name)
            centre = rng.standard_normal(model.dim).astype(np.float32)
            centres.append(centre)
            faces, scores = [], []
            for j in range(faces_per_person):
                faces.append(face(f"{i:05d}/{j}", f"20{(i % 20):02d}-01-{(j % 28) + 1:02d}T12:00:00",
                                  centre + SPREAD * rng.standard_normal(model.dim).astype(np.float32)))
                scores.append(float(rng.uniform(0.3, 0.9)))
            catalog.people.assign(faces, person, AssignedBy.CLUSTER)
            catalog.faces.set_quality((f, {**dict.fromkeys(QUALITY_COMPONENTS), "quality": score})
                                      for f, score in zip(faces, scores))
        for k in range(unassigned if centres else 0):
            near = centres[int(rng.integers(len(centres)))]
            spread = float(rng.uniform(*LOOSE))
            face(f"loose/{k:06d}", f"2015-06-{(k % 28) + 1:02d}T12:00:00",
                 near + spread * rng.standard_normal(model.dim).astype(np.float32))
