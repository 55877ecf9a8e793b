"""The one interface every face engine implements: detect → align → embed.

An engine works on RGB uint8 arrays. `detect` returns boxes and 5 landmarks in the
coordinates of the array it was given; the embed stage maps them to original pixels.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np


class EngineUnavailable(RuntimeError):
    """The engine's runtime or weights are missing (one-line, user-facing reason)."""


@dataclass
class Detection:
    box: np.ndarray          # float32 (4,): x1, y1, x2, y2
    landmarks: np.ndarray    # float32 (5, 2)
    score: float

    def scaled(self, factor: float) -> "Detection":
        return Detection(self.box * factor, self.landmarks * factor, self.score)

    @property
    def short_edge(self) -> float:
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))


class FaceEngine(ABC):
    """Detector + recogniser pair. Subclasses set the identity attributes below."""

    engine: str            # 'dlib' | 'insightface'
    model: str             # recogniser id recorded with every embedding
    detector: str          # detector id
    landmark_scheme: str   # 'arcface5' | 'dlib5'
    dim: int               # embedding size
    chip_size: int         # side of the aligned face the recogniser takes
    det_max_side: int      # images are downscaled to this long side before detection

    detector_calls = 0     # counted per instance; tests read it
    holds_gil = False      # True: its calls hold the GIL, so parallel work needs processes
    threaded_models = False  # True: each model call uses every core; concurrent calls only contend

    def maker(self):
        """A picklable callable that builds an equal engine in a worker process, or None."""
        return None

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in `rgb`, largest first."""

    @abstractmethod
    def align(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        """The aligned face chip (chip_size x chip_size RGB) the recogniser expects."""

    @abstractmethod
    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """L2-normalised float32 (n, dim) embeddings of aligned chips, batched."""

    def align_image(self, image, detection: Detection) -> np.ndarray:
        """The chip of `detection` (original pixels) cut from a `DecodedImage`."""
        return self.align(image.rgb, detection.scaled(image.scale))

    def prepare(self, image):
        """The engine's own view of a decoded image (e.g. its detector's input), made in the
        decode threads so the main thread only runs models; kept as `image.prepared`."""
        return None

    def detect_image(self, image, reread, min_face: float | None = None) -> list[Detection]:
        """Faces of a `DecodedImage` (maybe DCT-reduced) in original pixels. `reread(scale)`
        returns the same image decoded at `scale` or more, for engines that look closer;
        `min_face` (short edge, original pixels): the smallest face worth looking closer for
        (None: no closer look)."""
        return [d.scaled(1.0 / image.scale) for d in detect_scaled(self, image.rgb)]

    def weight_files(self) -> list:
        """The model files this engine runs (paths): a cluster worker must hold the same bytes."""
        return []

    def options(self):
        """The EngineOptions that load an equal engine on another machine (a cluster worker),
        with that machine's own threads and weights folders."""
        from facesets.engines import EngineOptions

        return EngineOptions(engine=self.engine)

    def describe(self) -> dict:
        return {
            "engine": self.engine, "model": self.model, "detector": self.detector,
            "dim": self.dim, "landmark_scheme": self.landmark_scheme,
        }


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def sharpness(chip_rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned face at 112 px: comparable across engines."""
    gray = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY)
    if gray.shape[0] != 112:
        gray = cv2.resize(gray, (112, 112), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def eye_centres(landmarks: np.ndarray, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye, image-right eye) centres from either landmark scheme."""
    pts = np.asarray(landmarks, dtype=np.float32).reshape(-1, 2)
    if scheme == "dlib5":   # 0,1: one eye's corners; 2,3: the other's; 4: nose base
        a, b = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)
    else:                   # arcface5: eye, eye, nose, mouth, mouth
        a, b = pts[0], pts[1]
    return (a, b) if a[0] <= b[0] else (b, a)


def sort_largest_first(detections: list[Detection]) -> list[Detection]:
    return sorted(detections, key=lambda d: -float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))


def detect_scaled(engine: FaceEngine, rgb: np.ndarray) -> list[Detection]:
    """Detect on a copy no larger than the engine wants; coordinates back in `rgb` pixels."""
    long_side = max(rgb.shape[:2])
    if long_side <= engine.det_max_side:
        return engine.detect(rgb)
    factor = engine.det_max_side / long_side
    small = cv2.resize(rgb, (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor)),
                       interpolation=cv2.INTER_AREA)
    return [d.scaled(1.0 / factor) for d in engine.detect(small)]
