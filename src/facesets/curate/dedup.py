"""`facesets dedup`: byte-identical files and visual near-duplicates across the library.

Byte-identical photos share one files row (sha256 is unique); their other locations are aliases.
Visual near-duplicates (burst shots, re-compressions, shifted crops) are faces of different files
whose embeddings are at least `near_duplicate_similarity` alike. Sources are never touched: apply
only drops the lesser members of a group from each exported faceset that holds more than one.
"""
from __future__ import annotations

from facesets.catalog import Catalog
from facesets.curate.core import Proposal
from facesets.curate.near import face_rows, groups_of, near_pairs
from facesets.curate.tree import load_facesets, sha256_file


def byte_groups(catalog: Catalog) -> list[dict]:
    """Every file that lives at more than one path (same sha256)."""
    groups: dict[int, dict] = {}
    for row in catalog.conn.execute(
            "SELECT files.id, files.path, files.sha256, aliases.path AS alias FROM files "
            "JOIN aliases ON aliases.file_id = files.id ORDER BY files.id, aliases.path"):
        group = groups.setdefault(row["id"], {"kind": "bytes", "sha256": row["sha256"], "file_id": row["id"],
                                              "paths": [row["path"]]})
        group["paths"].append(row["alias"])
    return list(groups.values())


def visual_groups(catalog: Catalog, similarity: float) -> list[dict]:
    """Faces of different files at least `similarity` alike, grouped; best composite first."""
    ids, matrix = catalog.face_embeddings()
    files = dict(catalog.conn.execute("SELECT id, file_id FROM faces"))
    pairs = [(i, j, s) for i, j, s in near_pairs(matrix, similarity) if files[int(ids[i])] != files[int(ids[j])]]
    found = []
    for members in groups_of(len(ids), pairs):
        faces = face_rows(catalog, [int(ids[m]) for m in members])
        ordered = sorted(faces.values(), key=lambda f: (-f["composite"], f["id"]))
        found.append({"kind": "visual", "keep": ordered[0]["id"],
                      "faces": [{"face_id": f["id"], "path": f["path"], "person_id": f["person_id"],
                                 "quality": round(f["composite"], 4)} for f in ordered],
                      "min_similarity": round(min(s for i, j, s in pairs if i in members and j in members), 4)})
    return found


def analyze(catalog: Catalog, root, similarity: float) -> Proposal:
    bytes_ = byte_groups(catalog)
    visual = visual_groups(catalog, similarity)
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
