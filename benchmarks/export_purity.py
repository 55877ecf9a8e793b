"""Purity and coverage of exported facesets on lfw158 (dlib engine, cached embeddings).

Runs refine and export on a copy of the cached catalog, then checks every exported crop against
its photo's identity (LFW folder): purity per faceset, identities with >= min_faces usable faces
(passing the quality gates) that got a faceset, and crops in which the engine finds != 1 face.
Last line: JSON {"min_purity", "mean_purity", "identity_coverage", "multi_face_crops"}.

    python benchmarks/export_purity.py
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FACES, LFW_LABEL_FIXES, cached_catalog  # noqa: E402

from facesets import Catalog  # noqa: E402
from facesets.cluster import cluster_params, refine  # noqa: E402
from facesets.export import engine_maker, export  # noqa: E402
from facesets.export.crops import CropChecker  # noqa: E402


def main() -> None:
    source = cached_catalog("lfw158_dlib", [FACES / "lfw158"])
    work = Path(tempfile.mkdtemp(prefix="facesets-purity-"))
    db = work / "catalog.db"
    shutil.copyfile(source, db)
    started = time.perf_counter()
    with Catalog.open(db) as catalog:
        refined = refine(catalog)
        stats = export(catalog, work / "out", targets=("roop",))
        p = cluster_params(catalog)
        usable = Counter()
        for face in catalog.faces.all():
            sharp = face.sharpness if face.sharpness is not None else 1e9
            if face.face_index == 0 and face.short_edge >= p.min_short and sharp >= p.min_blur \
                    and face.score >= p.min_det:
                usable[Path(face.path).parent.name] += 1
        maker = engine_maker(catalog)
    seconds = time.perf_counter() - started
    manifest = json.loads((work / "out" / "manifest.json").read_text())
    purities, covered, pngs = [], set(), []
    raw_purities = []
    for entry in manifest["facesets"]:
        faces = json.loads((work / "out" / entry["folder"] / "manifest.json").read_text())["faces"]
        raw = [Path(f["source"]).parent.name for f in faces]
        identities = [LFW_LABEL_FIXES.get(Path(f["source"]).name, name) for f, name in zip(faces, raw)]
        top, count = Counter(identities).most_common(1)[0]
        purities.append(count / len(identities))
        raw_purities.append(Counter(raw).most_common(1)[0][1] / len(raw))
        covered.add(top)
        pngs += [(work / "out" / entry["folder"] / f["file"]).read_bytes() for f in faces]
    with CropChecker(maker, parallel=True) as checker:
        multi = sum(n != 1 for n in checker.counts(pngs))
    crops = len(pngs)
    eligible = {name for name, n in usable.items() if n >= p.min_faces}
    coverage = len(eligible & covered) / max(len(eligible), 1)
    print(f"refine: {refined.get('facesets')} facesets; export: {stats}; {seconds:.0f} s")
    print(f"without the checked LFW label fix ({', '.join(LFW_LABEL_FIXES)}): min purity {min(raw_purities):.4f}")
    print(f"facesets {len(purities)}, crops {crops}, min purity {min(purities):.4f}, mean purity "
          f"{np.mean(purities):.4f}; identities with >= {p.min_faces} usable faces: {len(eligible)}, "
          f"with a faceset: {len(eligible & covered)} ({coverage:.1%}); crops with != 1 face: {multi}")
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"min_purity": round(min(purities), 4), "mean_purity": round(float(np.mean(purities)), 4),
                      "identity_coverage": round(coverage, 4), "multi_face_crops": multi}))


if __name__ == "__main__":
    main()
