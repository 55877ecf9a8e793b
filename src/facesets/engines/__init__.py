"""Face engines behind one interface (`FaceEngine`), and how one is chosen.

`load_engine("auto")` picks InsightFace when a pack's weights are present locally, else
the offline dlib engine, and says which on the "facesets" logger.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from facesets.engines.base import Detection, EngineUnavailable, FaceEngine, eye_centres
from facesets.engines.packs import PACKS, find_pack_dir, get_pack

ENGINES = ("auto", "dlib", "insightface")
log = logging.getLogger("facesets")


@dataclass
class EngineOptions:
    engine: str = "auto"
    pack: str = "buffalo_l"
    models: str | None = None
    device: str = "auto"
    detector: str = "hog"          # dlib engine: hog | yunet
    yunet_model: str | None = None
    threads: int | None = None
    download: bool = True


def load_engine(options: EngineOptions | None = None) -> FaceEngine:
    """The engine `options` ask for (default: auto, dlib unless InsightFace weights are here)."""
    options = options or EngineOptions()
    name = options.engine
    if name not in ENGINES:
        raise EngineUnavailable(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
    if name == "auto":
        if find_pack_dir(get_pack(options.pack), options.models):
            name = "insightface"
        else:
            name = "dlib"
            log.warning(f"engine: dlib (no InsightFace {options.pack} weights found; "
                   f"use --engine insightface to download them)")
    if name == "insightface":
        from facesets.engines.insightface_engine import InsightFaceEngine
        return InsightFaceEngine(options.pack, options.models, options.device,
                                 threads=options.threads, download=options.download)
    from facesets.engines.dlib_engine import DlibEngine
    return DlibEngine(options.detector, options.yunet_model, threads=options.threads)


__all__ = ["Detection", "EngineOptions", "EngineUnavailable", "FaceEngine", "PACKS",
           "eye_centres", "load_engine"]
