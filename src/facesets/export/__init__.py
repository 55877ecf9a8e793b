"""Swap-ready export: what a face-swap user finally drops into their tool.

`export(catalog, out, targets)` reads refine's facesets from the catalog, gates and ranks their
faces (select.py), cuts square crops and keeps only those in which the engine finds exactly one
face (crops.py), and writes every target (write.py) into a staging tree that replaces OUT in
one rename, so a crash or a full disk never leaves a half-written export.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import outputs
from ..catalog import Catalog, CatalogError
from ..cluster.tree import OWN_MARK, folder_name
from ..engines import EngineOptions, load_engine
from ..profiles import profile_for
from .crops import POOL_FROM, CropChecker, CropSpec, checked_counts, checker_key, make_crops, png_bytes
from .select import select_facesets
from .write import TARGETS, contact_sheet, write_faceset

__all__ = ["export", "TARGETS", "verification_engine"]


@dataclass(frozen=True)
class EngineMaker:
    """Builds the catalog's own detector (picklable, so worker processes can build theirs)."""
    options: EngineOptions

    def __call__(self):
        engine = load_engine(self.options)
        if hasattr(engine, "upsample") and engine.upsample is None:
            engine.upsample = 1   # a 512 crop: upsampled once, bystanders down to ~40 px are found
        # (part of the crop-check rule: a change here raises crops.CHECK_RULE, so remembered counts go)
        return engine


def engine_maker(catalog: Catalog, engine_options: EngineOptions | None = None) -> EngineMaker:
    model = catalog.embedding_model()
    return EngineMaker(engine_options or EngineOptions(engine=model.engine, pack=model.model.split("/")[0]))


def verification_engine(catalog: Catalog, engine_options: EngineOptions | None = None):
    """The catalog's own detector, used to re-detect every crop."""
    return engine_maker(catalog, engine_options)()


def export(catalog: Catalog, out: str | os.PathLike, targets=("roop", "folders"), top_n: int = 30,
           out_size: int = 512, pad_ratio: float = 0.5, candidates: bool = False, link: str = "copy",
           engine_options: EngineOptions | None = None, progress=None, params=None,
           workers: int | None = None) -> dict:
    """Export every faceset to OUT; returns counts (facesets, crops, rejected crops, ...)."""
    targets = tuple(targets)
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise ValueError(f"unknown export target(s) {', '.join(sorted(unknown))} ({', '.join(TARGETS)})")
    model = catalog.embedding_model()
    if model is None:
        raise CatalogError("the catalog holds no embeddings yet: run `facesets embed` first")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / OWN_MARK).exists():
        raise ValueError(f"{out} holds files facesets did not write; choose an empty or new folder")
    from ..cluster.stages import cluster_params

    p = cluster_params(catalog, params)
    profile = profile_for(model.key)
    spec = CropSpec(out_size, pad_ratio)
    run_params = {"out": str(out.resolve()), "targets": list(targets), "top_n": top_n, "out_size": out_size,
                  "pad_ratio": pad_ratio, "candidates": candidates}
    with catalog.stage("export", run_params) as run:
        stats = run.stats
        stats.update({"facesets": 0, "crops": 0, "rejected_crops": 0})
        _export(catalog, out, run.id, stats, targets, top_n, spec, p, profile, candidates, link, engine_options,
                progress, workers)
        run.on_done.append(lambda: catalog.exports.add(out.resolve(), list(targets),   # with the run's end
                                                       {"top_n": top_n, "out_size": out_size, "pad_ratio": pad_ratio},
                                                       run.id))
    return stats


def _export(catalog: Catalog, out: Path, run_id: int, stats: dict, targets, top_n: int, spec: CropSpec, p, profile,
            candidates: bool, link: str, engine_options, progress, workers) -> None:
    """Gate, rank, cut, check and write every faceset into a staging tree swapped in at the end."""
    from ..enrich.quality import score_faces

    model = catalog.embedding_model()
    unscored = catalog.faces.ids(unscored_only=True)
    if unscored:  # cheap (~4000 faces/s); candidates need unassigned faces scored too
        score_faces(catalog, unscored)
    facesets = select_facesets(catalog, profile, lambda person: folder_name(person, "faceset"))
    maker = engine_maker(catalog, engine_options)
    total = sum(len(f.picks) for f in facesets)
    rejected = []
    listing, sheet = [], []
    with outputs.staged_dir(out) as staging, \
            CropChecker(maker, parallel=maker.options.engine == "dlib" and total >= POOL_FROM, workers=workers) as checker, \
            ThreadPoolExecutor(checker.workers) as encoder:   # zlib lets go of the GIL: PNGs encode side by side
        outputs.mark_own(staging)
        for faceset in facesets:
            images = make_crops(faceset.picks, spec)
            cut = [f for f, i in images.items() if not isinstance(i, str)]
            encoded = dict(zip(cut, encoder.map(png_bytes, [images[f] for f in cut])))
            found_in = checked_counts(catalog, checker, checker_key(maker.options), encoded)
            pngs, faces = [], []
            for pick in faceset.picks:
                image = images[pick.face_id]
                found = found_in.get(pick.face_id, -1)
                if progress:
                    progress("export crops", 1, total)
                if found != 1:
                    reason = image if isinstance(image, str) else f"{found} faces in crop"
                    rejected.append({"face_id": pick.face_id, "source": pick.path, "reason": reason,
                                     "faceset": faceset.folder})
                    continue
                faces.append({"rank": len(pngs), "file": f"{len(pngs)}.png", "face_id": pick.face_id,
                              "source": pick.path, "box": [round(v, 1) for v in pick.box],
                              "det_score": round(pick.det_score, 4), "short_edge": round(pick.short_edge, 1),
                              "quality": round(pick.quality, 4),
                              "components": {k: (round(v, 4) if v is not None else None)
                                             for k, v in pick.components.items()},
                              "taken_at": pick.taken_at,
                              **({"frame_ms": round(pick.frame.t_ms, 1)} if pick.frame else {})})
                pngs.append(encoded[pick.face_id])
            if not pngs:
                continue
            manifest = {"person": faceset.person_id, "name": faceset.name, "folder": faceset.folder,
                        "faces": faces, "dropped_by_gates": faceset.dropped}
            photos = sorted({face["source"] for face in faces})
            written = write_faceset(staging, faceset.folder, pngs, manifest, targets, top_n, photos, link)
            listing.append({"person": faceset.person_id, "name": faceset.name, "folder": faceset.folder,
                            "faces": len(pngs), **{k: v for k, v in written.items() if k != "crops"}})
            sheet.append({"person": faceset.person_id, "label": faceset.name or faceset.folder,
                          "count": len(pngs), "crops": written["crops"]})
            stats["facesets"] += 1
            stats["crops"] += len(pngs)
        stats["rejected_crops"] = len(rejected)
        placed = {}
        if candidates:
            from .candidates import write_candidates
            placed = write_candidates(catalog, staging, facesets, profile, p, link)
            stats["candidates"] = sum(len(v) for v in placed.values())
        outputs.write_json(staging / "manifest.json", {
            "provenance": {"engine": model.engine, "model": model.model, "detector": model.detector,
                           "profile": profile.name, "run": run_id,
                           "parameters": {"targets": list(targets), "top_n": top_n, "out_size": spec.out_size,
                                          "pad_ratio": spec.pad_ratio, "export_outlier": profile.export_outlier,
                                          "export_min_short": profile.export_min_short,
                                          "near_duplicate_similarity": profile.near_duplicate_similarity,
                                          **p.as_dict()},
                           "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
            "facesets": listing, "rejected_crops": rejected, "candidates": placed,
            "masked": [], "merged": [], "thin": []})
        contact_sheet(staging / "index.html", f"facesets export ({len(listing)} facesets)", sheet)
