"""`facesets dedup`: byte-identical files and visual near-duplicates across the library.

Byte-identical photos share one files row (sha256 is unique); their other locations are aliases.
Visual near-duplicates (burst shots, re-compressions, shifted crops) are faces of different files
whose embeddings are at least `near_duplicate_similarity` alike. Sources are never touched: apply
only drops the lesser members of a group from each exported faceset that holds more than one.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from facesets.catalog import Catalog
from facesets.curate.core import Proposal, profile_of
from facesets.curate.near import groups_of, near_pairs
from facesets.curate.tree import load_facesets, sha256_file

PIXEL_CORRELATION = 0.9


def face_thumb(path: str, box, size: int = 24) -> np.ndarray | None:
    """The face's neighbourhood (1.5 × its box) as a zero-mean, unit-norm grey thumbnail."""
    from facesets.media.decode import DecodeError, read_image

    try:
        rgb = read_image(path).rgb
    except DecodeError:
        return None
    x1, y1, x2, y2 = box
    half = max(x2 - x1, y2 - y1) * 0.75
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    image = Image.fromarray(rgb).convert("L")
    crop = image.crop((int(cx - half), int(cy - half), int(cx + half), int(cy + half))).resize((size, size), Image.BILINEAR)
    a = np.asarray(crop, np.float32)
    a = a - a.mean()
    return a / max(float(np.linalg.norm(a)), 1e-6)


def visual_groups(catalog: Catalog, similarity: float, relaxed: float | None = None,
                  pixels: float = PIXEL_CORRELATION) -> list[dict]:
    """Faces of different files at least `similarity` alike, grouped; best composite first.

    Re-compression moves some engines' embeddings a little (dlib: a JPEG re-saved at quality
    60-70 lands at 0.992-0.995), so pairs between `relaxed` and `similarity` also count when the
    pixels around the two faces agree (correlation of grey thumbnails >= `pixels`); different
    photos of one person that the embedding finds that close do not."""
    relaxed = min(similarity, 1 - 2 * (1 - similarity)) if relaxed is None else relaxed
    ids, matrix = catalog.faces.embeddings()
    files = catalog.faces.file_of()
    boxes = {}
    pairs, checked = [], 0
    for i, j, sim in near_pairs(matrix, relaxed):
        a, b = int(ids[i]), int(ids[j])
        if files[a] == files[b]:
            continue
        if sim < similarity:
            checked += 1
            for face in (a, b):
                if face not in boxes:
                    found = catalog.faces.box(face)
                    boxes[face] = face_thumb(found.path, found.box)
            if boxes[a] is None or boxes[b] is None or float((boxes[a] * boxes[b]).sum()) < pixels:
                continue
        pairs.append((i, j, sim))
    found = []
    for members in groups_of(len(ids), pairs):
        faces = catalog.faces.details(int(ids[m]) for m in members)
        ordered = sorted(faces.values(), key=lambda f: (-f.composite, f.id))
        inside = set(members)
        found.append({"kind": "visual", "keep": ordered[0].id,
                      "faces": [{"face_id": f.id, "path": f.path, "person_id": f.person_id,
                                 "quality": round(f.composite, 4)} for f in ordered],
                      "min_similarity": round(min(s for i, j, s in pairs if i in inside and j in inside), 4)})
    return found


def analyze(catalog: Catalog, root, *, similarity: float | None = None, relaxed: float | None = None,
            pixels: float = PIXEL_CORRELATION) -> Proposal:
    """Group byte-identical files and near-duplicate faces; plan to drop the lesser crops of each
    group from every exported faceset that holds more than one (`root`: the export tree).

    `similarity`: cosine similarity of two embeddings that makes them near-duplicates (None: the
    profile's near_duplicate_similarity); `relaxed` (None: 1 - 2 x (1 - similarity)) and
    `pixels` (0.9, a correlation in [-1, 1]): see `visual_groups`."""
    similarity = profile_of(catalog).near_duplicate_similarity if similarity is None else similarity
    bytes_ = catalog.files.byte_groups()
    visual = visual_groups(catalog, similarity, relaxed, pixels)
    actions = []
    crops = {}
    for faceset in load_facesets(root, catalog):
        for crop in faceset.crops:
            crops.setdefault(crop.face_id, []).append((faceset, crop))
    for group in visual:
        by_faceset: dict[str, list] = {}
        for rank, face in enumerate(group["faces"]):
            for faceset, crop in crops.get(face["face_id"], []):
                by_faceset.setdefault(faceset.label, []).append((rank, faceset, crop))
        for label, members in by_faceset.items():
            for rank, faceset, crop in sorted(members, key=lambda m: m[0])[1:]:
                actions.append({"type": "drop_crop", "faceset": label, "file": crop.file, "face_id": crop.face_id,
                                "sha256": sha256_file(faceset.folder / crop.file), "reason": "near-duplicate"})
    dropped = {(a["faceset"], a["face_id"]) for a in actions}
    review = [{"kind": "bytes", "title": f"byte-identical: {len(g['paths'])} paths",
               "items": [{"image": p, "caption": "same bytes"} for p in g["paths"]]} for g in bytes_]
    for g in visual:
        review.append({"kind": "visual", "title": f"near-duplicates (similarity >= {g['min_similarity']})",
                       "faces": g["faces"], "keep": g["keep"],
                       "items": [{"image": f["path"], "mark": "keep" if f["face_id"] == g["keep"] else
                                  ("drop" if any(fid == f["face_id"] for _, fid in dropped) else ""),
                                  "caption": f"face {f['face_id']} person {f['person_id']} q {f['quality']}"}
                                 for f in g["faces"]]})
    return Proposal(groups=review, actions=actions,
                    summary={"byte_groups": len(bytes_), "visual_groups": len(visual),
                             "byte_paths": sum(len(g["paths"]) for g in bytes_),
                             "visual_faces": sum(len(g["faces"]) for g in visual),
                             "crops_to_drop": len(actions), "similarity": similarity})
