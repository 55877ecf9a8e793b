"""InsightFace engine: a pack's SCRFD detector and ArcFace recogniser on onnxruntime.

Pre/post-processing is the `insightface` package's own (`model_zoo`, `face_align`); this
class only wires it to the common interface. Only detection and recognition run at embed
time; the landmark models of the pack are used by `enrich`.
"""
from __future__ import annotations

import os
import warnings

import cv2
import numpy as np

from facesets.engines.base import (
    Detection, EngineUnavailable, FaceEngine, l2_normalise, sort_largest_first,
)
from facesets.engines.packs import ensure_pack, get_pack
from facesets.engines.providers import choose_providers, session_options
from facesets.media.decode import TRANSPOSING, oriented_array


def load_onnx_model(path, device: str = "auto", threads: int | None = None):
    """One insightface model object (SCRFD, ArcFaceONNX, Landmark) on the chosen providers."""
    from insightface.model_zoo import get_model

    model = get_model(str(path), providers=choose_providers(device),
                      sess_options=session_options(threads))
    if model is None:
        raise EngineUnavailable(f"{path}: not an InsightFace model this version can route")
    return model


class InsightFaceEngine(FaceEngine):
    engine = "insightface"
    landmark_scheme = "arcface5"
    threaded_models = True  # onnxruntime sessions with intra-op threads on every core

    def __init__(self, pack: str = "buffalo_l", models: str | os.PathLike | None = None,
                 device: str = "auto", det_size: int = 640, det_thresh: float = 0.5,
                 threads: int | None = None, download: bool = True, batch_size: int = 32):
        self.pack = get_pack(pack)
        self.folder = ensure_pack(pack, models, download=download)
        self.device = device
        self._det = load_onnx_model(self.folder / self.pack.detector, device, threads)
        self._rec = load_onnx_model(self.folder / self.pack.recogniser, device, threads)
        if self._det.taskname != "detection" or self._rec.taskname != "recognition":
            raise EngineUnavailable(f"{self.folder}: detector/recogniser files are not what their names say")
        self.det_size = det_size
        self._det.prepare(0, input_size=(det_size, det_size), det_thresh=det_thresh)
        self.det_max_side = max(det_size * 2, 1280)
        # Photos are decoded at full resolution, as in insightface's own loop: SCRFD then sees the
        # same pixels and gives the same landmarks, so chips and embeddings match it (a DCT-reduced
        # decode moved landmarks by 1-9 px: cosine 0.93-0.99 on benchmarks/embed_throughput.py).
        self.decode_side = None
        self.reduced_side = det_size  # --reduced-decode: 15-20% faster, landmarks no longer identical
        self.chip_size = int(self._rec.input_size[0])
        self.face_px = round(self.chip_size * 0.75)  # a SCRFD box's side inside a norm_crop chip
        self.chip_upsample = 2.0  # faces smaller than face_px / 2 in the reduced decode are re-read
        self.dim = int(self._rec.output_shape[-1])
        self.model = f"{pack}/{self.pack.recogniser}"
        self.detector = self.pack.detector
        self.batch_size = batch_size
        self.providers = list(self._rec.session.get_providers())
        # On an accelerator every recogniser call gets the same batch shape: a new shape costs a
        # cuDNN algorithm search (measured on an H100: 420 faces in 7.6 s unpadded, see README).
        self.pad_batches = self.providers[0] != "CPUExecutionProvider"

    def weight_files(self) -> list:
        return [self.folder / self.pack.detector, self.folder / self.pack.recogniser]

    def options(self):
        from facesets.engines import EngineOptions

        return EngineOptions(engine=self.engine, pack=self.pack.name, models=str(self.folder.parent),
                             device=self.device, download=False)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self._detect_bgr(np.ascontiguousarray(rgb[:, :, ::-1]))

    def _detect_bgr(self, bgr: np.ndarray) -> list[Detection]:
        self.detector_calls += 1
        dets, kpss = self._det.detect(bgr, input_size=(self.det_size, self.det_size))
        out = []
        for i in range(dets.shape[0]):
            out.append(Detection(dets[i, :4].astype(np.float32), kpss[i].astype(np.float32),
                                 float(dets[i, 4])))
        return sort_largest_first(out)

    def prepare(self, image) -> tuple[np.ndarray, float]:
        """SCRFD's input: the image resized to det_size as SCRFD.detect itself resizes it (before
        the RGB->BGR copy, so only det_size pixels are copied). Runs in the decode threads.
        A rotated photo is resized as stored and the small result turned upright: the same
        pixels for flips, at most 1 level apart on 7.5% of them for quarter turns."""
        height, width = image.upright_shape
        size = _scrfd_target(height, width, self.det_size)
        if size is None:
            small = image.rgb
        else:
            stored_size = size[::-1] if image.orientation in TRANSPOSING else size
            small = oriented_array(cv2.resize(image.stored, stored_size), image.orientation)
        return np.ascontiguousarray(small[:, :, ::-1]), small.shape[0] / height

    def detect_image(self, image, reread) -> list[Detection]:
        bgr, factor = image.prepared or self.prepare(image)
        return [d.scaled(1.0 / (factor * image.scale)) for d in self._detect_bgr(bgr)]

    def align(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        from insightface.utils import face_align

        with warnings.catch_warnings():  # scikit-image deprecation inside insightface
            warnings.simplefilter("ignore", FutureWarning)
            return face_align.norm_crop(rgb, landmark=detection.landmarks, image_size=self.chip_size)

    def align_image(self, image, detection: Detection) -> np.ndarray:
        """norm_crop's warp, composed with the photo's rotation (none: the identity) and applied
        to the stored pixels: the chip of the upright image without turning 12 MP."""
        from insightface.utils import face_align

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            upright = face_align.estimate_norm(detection.scaled(image.scale).landmarks, self.chip_size)
        warp = (np.vstack([upright, (0.0, 0.0, 1.0)]) @ image.stored_to_upright())[:2]
        return cv2.warpAffine(image.stored, warp, (self.chip_size, self.chip_size), borderValue=0.0)

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        outs = []
        for start in range(0, len(chips), self.batch_size):
            batch = [np.ascontiguousarray(c[:, :, ::-1]) for c in chips[start:start + self.batch_size]]
            real = len(batch)
            if self.pad_batches:
                batch += [np.zeros_like(batch[0])] * (self.batch_size - real)
            outs.append(np.asarray(self._rec.get_feat(batch), np.float32).reshape(len(batch), -1)[:real])
        return l2_normalise(np.concatenate(outs))


def _scrfd_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(width, height) SCRFD resizes an image to for a square `size` input (insightface's rule)."""
    ratio = float(height) / width
    if ratio > 1.0:
        return int(size / ratio), size
    return size, int(size * ratio)


def _scrfd_target(height: int, width: int, size: int) -> tuple[int, int] | None:
    """(width, height) to resize an image to exactly as SCRFD would (bilinear is per channel,
    so RGB and BGR give the same pixels); None where SCRFD would resize the result again
    differently, or not at all."""
    target = _scrfd_size(height, width, size)
    if target == (width, height) or _scrfd_size(target[1], target[0], size) != target:
        return None
    return target
