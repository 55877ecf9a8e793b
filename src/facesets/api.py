"""The library in a few obvious calls, in face_recognition's spirit.

    import facesets

    with facesets.open("library.db") as lib:          # a catalog: one SQLite file per library
        lib.embed(["~/Pictures"])                      # every face, detected and embedded
        lib.cluster()                                  # people, by identity
        for person in lib.people():
            print(person.label, person.n_faces)

    facesets.run(["~/Pictures"], "out")                # all of it, and the export, in one call

    engine = facesets.load_engine("dlib")
    faces = facesets.faces_in("photo.jpg", engine)     # box, landmarks, score, embedding
    facesets.distance(faces[0].embedding, faces[1].embedding)

Every threshold defaults to the catalog's engine profile (facesets.profiles); every parameter
after the first one or two is keyword-only. Progress goes to an optional `progress(phase,
advance, total)` callable; notices go to the "facesets" logger.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from facesets.catalog import Catalog, Face, FaceFilter, Person
from facesets.engines import EngineOptions, FaceEngine
from facesets.engines import load_engine as _load

Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class DetectedFace:
    """A face found in one image: box and landmarks in the image's (upright) pixels."""
    box: tuple[float, float, float, float]   # x1, y1, x2, y2
    landmarks: np.ndarray | None             # (5, 2)
    score: float                             # the detector's own scale
    embedding: np.ndarray = field(repr=False)  # L2-normalised float32


def open(path: str | os.PathLike, *, create: bool = True) -> "Library":  # noqa: A001 - facesets.open, as tarfile.open
    """The library whose catalog is at `path` (a SQLite file; created when absent, unless
    `create` is False). Close it, or use it as a context manager."""
    return Library(Catalog.open(path, create=create))


class Library:
    """One photo library: its catalog, and every stage of the pipeline over it."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    @property
    def path(self) -> Path:
        return self.catalog.path

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def embed(self, sources: Iterable[str | os.PathLike], *, engine: str | FaceEngine = "auto",
              pack: str = "buffalo_l", models: str | None = None, device: str = "auto",
              input_mode: str = "photos", workers: int | None = None, cluster=None,
              progress: Progress | None = None):
        """Scan `sources` (folders or files, only ever read) and detect and embed every new face.
        engine: "auto" (InsightFace when its weights are present, else dlib), "dlib",
        "insightface", or an engine from `load_engine`. input_mode: photos | crops | aligned.
        workers: decode threads (dlib: processes); default one per core. cluster: detect and
        embed on a Dask cluster ("local", "local:N", "tcp://HOST:8786", or a ClusterOptions with
        path maps and TLS files; needs facesets[cluster]): the catalog comes out as without it.
        Returns an EmbedResult."""
        from facesets.embed import EmbedOptions, embed

        given = engine if isinstance(engine, FaceEngine) else None
        options = None if given else EngineOptions(engine=engine, pack=pack, models=models, device=device)
        return embed(self.catalog, sources, engine=given, engine_options=options,
                     options=EmbedOptions(input_mode=input_mode, workers=workers, cluster=_cluster(cluster)),
                     progress=progress)

    def cluster(self, *, out: str | os.PathLike | None = None, params: dict | None = None,
                progress: Progress | None = None) -> dict:
        """Cluster every face into people (numbers kept across runs, user decisions kept).
        params: overrides of the profile's clustering parameters (see ClusterParams); out: also
        write OUT/person_NNN/ photo folders. Returns counts."""
        from facesets.cluster import cluster

        return cluster(self.catalog, out, params=params, progress=progress)

    def refine(self, *, out: str | os.PathLike | None = None, params: dict | None = None,
               progress: Progress | None = None) -> dict:
        """refine's clustering, quality gate, outlier cut and size filter: which faces make up each
        person's faceset (thresholds from the profile). Returns counts."""
        from facesets.cluster import refine

        return refine(self.catalog, out, params=params, progress=progress)

    def extend(self, *, out: str | os.PathLike | None = None, params: dict | None = None,
               progress: Progress | None = None) -> dict:
        """Faces embedded since the last clustering join the nearest person (within the profile's
        match distance) or found new people; nobody is renumbered. Returns counts."""
        from facesets.cluster import extend

        return extend(self.catalog, out, params=params, progress=progress)

    def enrich(self, *, all_faces: bool = False, models: str | None = None, device: str = "auto",
               progress: Progress | None = None) -> dict:
        """Dense landmarks, pitch/yaw/roll and composite quality (of people's faces, or of every
        face with `all_faces`). Returns counts."""
        from facesets.enrich import enrich

        return enrich(self.catalog, progress=progress, only_people=not all_faces, models=models, device=device)

    def export(self, out: str | os.PathLike, *, targets: Iterable[str] = ("roop", "folders"), top_n: int = 30,
               out_size: int = 512, pad_ratio: float = 0.5, candidates: bool = False, link: str = "copy",
               progress: Progress | None = None) -> dict:
        """Swap-ready facesets into `out`: targets roop (`_topN.fsz` and `_all.fsz`), facefusion
        (crop folders), single (one best crop), folders (the original photos). Crops are
        `out_size` px squares, the face plus `pad_ratio` of its size on every side. Returns counts."""
        from facesets.export import export

        return export(self.catalog, out, targets=tuple(targets), top_n=top_n, out_size=out_size,
                      pad_ratio=pad_ratio, candidates=candidates, link=link, progress=progress)

    def people(self) -> list[Person]:
        """Everyone who holds faces now (merged people left out), with face counts, by number."""
        return self.catalog.people.active()

    def faces(self, person: int | str | Person | None = None) -> list[Face]:
        """Every face (by id), or the faces of one person: a number, a name, a label such as
        person_012, or a Person."""
        if person is None:
            return self.catalog.faces.all()
        if isinstance(person, Person):
            person_id = person.id
        else:
            found = self.catalog.people.find(str(person))
            if found is None:
                raise KeyError(f"no person {person!r} in {self.path}")
            person_id = found.id
        return self.catalog.faces.all(FaceFilter(people=(person_id,)))


def run(sources: Iterable[str | os.PathLike], out: str | os.PathLike, *, engine: str = "auto",
        pack: str = "buffalo_l", models: str | None = None, device: str = "auto",
        targets: Iterable[str] = ("roop", "folders"), top_n: int = 30, cluster=None,
        progress: Progress | None = None) -> dict:
    """The whole pipeline, as `facesets run SOURCES OUT`: embed into OUT/library.db, cluster (or
    extend, when run again), refine, enrich, export into OUT/facesets/. cluster: embed on a Dask
    cluster, as in Library.embed. Returns each stage's counts."""
    from facesets.embed import EmbedOptions
    from facesets.pipeline import run as run_pipeline

    options = EngineOptions(engine=engine, pack=pack, models=models, device=device)
    return run_pipeline([os.fspath(s) for s in sources], out, engine_options=options, targets=tuple(targets),
                        export_options={"top_n": top_n}, progress=progress,
                        embed_options=EmbedOptions(cluster=_cluster(cluster)))


def _cluster(cluster):
    """`cluster=` as ClusterOptions: an address string, or ClusterOptions as given."""
    from facesets.embed import ClusterOptions

    return ClusterOptions(cluster) if isinstance(cluster, str) else cluster


def load_engine(name: str = "auto", *, pack: str = "buffalo_l", models: str | None = None,
                device: str = "auto") -> FaceEngine:
    """A face engine: "dlib" (offline), "insightface" (pack buffalo_l, buffalo_s or antelopev2 on
    ONNX Runtime; device auto, cpu, cuda, directml, coreml) or "auto"."""
    return _load(EngineOptions(engine=name, pack=pack, models=models, device=device))


def faces_in(image, engine: str | FaceEngine = "auto", *, min_face: int = 20) -> list[DetectedFace]:
    """Every face of one image, largest first, as `facesets embed` finds it: a path (EXIF
    orientation applied) or an RGB uint8 array. Faces whose box is under `min_face` pixels on its
    short edge are left out. Boxes and landmarks are in the upright image's pixels."""
    from facesets.embed.pipeline import EmbedOptions
    from facesets.embed.single import faces_of_image

    engine = load_engine(engine) if isinstance(engine, str) else engine
    found = faces_of_image(engine, image, EmbedOptions(min_face=min_face))
    return [DetectedFace(tuple(float(v) for v in face["box"]), face["landmarks"], float(face["score"]), face["embedding"])
            for face in found]


def distance(a, b) -> float | np.ndarray:
    """Cosine distance (1 - cosine similarity) between two embeddings, or between one and each row
    of a matrix. Faces (with an `.embedding`) are taken as their embeddings. Only distances of
    one engine's model compare: each has its own scale (see facesets.profiles)."""
    a = np.asarray(getattr(a, "embedding", a), np.float32)
    b = np.asarray(getattr(b, "embedding", b), np.float32)
    a = a / max(float(np.linalg.norm(a)), 1e-12)
    if b.ndim == 1:
        return float(1.0 - a @ (b / max(float(np.linalg.norm(b)), 1e-12)))
    return 1.0 - (b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)) @ a
