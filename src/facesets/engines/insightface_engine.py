"""InsightFace engine: a pack's SCRFD detector and ArcFace recogniser on onnxruntime.

Pre/post-processing is the `insightface` package's, rebuilt on numpy and OpenCV in
`scrfd`, `onnx_models` and `face_align` (the package is not a dependency: it pulls a second
OpenCV and scikit-image); this class only wires it to the common interface. Only detection
and recognition run at embed time (with a second look for faces too small for the 640 px
pass of a large photo: second_look.py); the landmark models of the pack are used by `enrich`.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from facesets.engines import second_look
from facesets.engines.base import (
    Detection, EngineUnavailable, FaceEngine, l2_normalise, sort_largest_first,
)
from facesets.engines.face_align import estimate_norm, norm_crop
from facesets.engines.onnx_models import load_onnx_model
from facesets.engines.packs import ensure_pack, get_pack
from facesets.engines.scrfd import input_shape
from facesets.media.decode import TRANSPOSING, oriented_array


class InsightFaceEngine(FaceEngine):
    engine = "insightface"
    landmark_scheme = "arcface5"
    threaded_models = True  # onnxruntime sessions with intra-op threads on every core

    def __init__(self, pack: str = "buffalo_l", models: str | os.PathLike | None = None,
                 device: str = "auto", det_size: int = 640, det_thresh: float = 0.5,
                 threads: int | None = None, download: bool = True, batch_size: int = 32,
                 look_again: bool = True):
        self.pack = get_pack(pack)
        self.folder = ensure_pack(pack, models, download=download)
        self.device = device
        self._det = load_onnx_model(self.folder / self.pack.detector, device, threads)
        self._rec = load_onnx_model(self.folder / self.pack.recogniser, device, threads)
        if self._det.taskname != "detection" or self._rec.taskname != "recognition":
            raise EngineUnavailable(f"{self.folder}: detector/recogniser files are not what their names say")
        self.det_size = det_size
        self._det.input_size, self._det.det_thresh = (det_size, det_size), det_thresh
        # faces too small for the det_size pass of a large photo: a second look where that pass
        # saw something faint (second_look.py); False: the det_size pass alone, as insightface
        self.look_again = look_again
        self.candidate_score, self.face_score = second_look.CANDIDATE_SCORE, second_look.FACE_SCORE
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
        self.detector_calls += 1
        dets, kpss = self._det.detect(rgb, input_size=(self.det_size, self.det_size))
        return sort_largest_first(_detections(dets, kpss))

    def prepare(self, image) -> tuple[np.ndarray, float]:
        """SCRFD's input: the image resized to det_size as SCRFD.detect itself resizes it.
        Runs in the decode threads.
        A rotated photo is resized as stored and the small result turned upright: the same
        pixels for flips, at most 1 level apart on 7.5% of them for quarter turns."""
        height, width = image.upright_shape
        size = _scrfd_target(height, width, self.det_size)
        if size is None:
            small = image.rgb
        else:
            stored_size = size[::-1] if image.orientation in TRANSPOSING else size
            small = oriented_array(cv2.resize(image.stored, stored_size), image.orientation)
        return small, small.shape[0] / height

    def detect_image(self, image, reread, min_face: float | None = None) -> list[Detection]:
        """The det_size pass; where it cannot see faces of `min_face` original pixels (a large
        photo), a second look at its faint small detections, cut from the photo's pixels."""
        small, factor = image.prepared or self.prepare(image)
        factor *= image.scale  # SCRFD input pixels per original pixel
        again = self.look_again and second_look.needed(min_face, factor)
        self.detector_calls += 1
        dets, kpss = self._det.detect(small, input_size=(self.det_size, self.det_size),
                                      det_thresh=self.candidate_score if again else None)
        sure = dets[:, 4] >= self._det.det_thresh
        faces = [d.scaled(1.0 / factor) for d in _detections(dets[sure], kpss[sure])]
        spots = second_look.candidates(dets, kpss, factor, self._det.det_thresh, min_face,
                                       self.candidate_score) if again else []
        if spots:
            self.detector_calls += 1
            source = reread(min(1.0, max(second_look.zoom_for(side) for _, side, _ in spots)))
            faces += second_look.look_again(self._det, source, faces, spots, self.face_score)
        return sort_largest_first(faces)

    def align(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        return norm_crop(rgb, detection.landmarks, self.chip_size)

    def align_image(self, image, detection: Detection) -> np.ndarray:
        """norm_crop's warp, composed with the photo's rotation (none: the identity) and applied
        to the stored pixels: the chip of the upright image without turning 12 MP."""
        upright = estimate_norm(detection.scaled(image.scale).landmarks, self.chip_size)
        warp = (np.vstack([upright, (0.0, 0.0, 1.0)]) @ image.stored_to_upright())[:2]
        return cv2.warpAffine(image.stored, warp, (self.chip_size, self.chip_size), borderValue=0.0)

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        outs = []
        for start in range(0, len(chips), self.batch_size):
            batch = list(chips[start:start + self.batch_size])
            real = len(batch)
            if self.pad_batches:
                batch += [np.zeros_like(batch[0])] * (self.batch_size - real)
            outs.append(np.asarray(self._rec.get_feat(batch), np.float32).reshape(len(batch), -1)[:real])
        return l2_normalise(np.concatenate(outs))


def _detections(dets: np.ndarray, kpss: np.ndarray) -> list[Detection]:
    return [Detection(dets[i, :4].astype(np.float32), kpss[i].astype(np.float32), float(dets[i, 4]))
            for i in range(dets.shape[0])]


def _scrfd_target(height: int, width: int, size: int) -> tuple[int, int] | None:
    """(width, height) to resize an image to exactly as SCRFD would (bilinear is per channel,
    so RGB and BGR give the same pixels); None where SCRFD would resize the result again
    differently, or not at all."""
    target = input_shape(height, width, (size, size))
    if target == (width, height) or input_shape(target[1], target[0], (size, size)) != target:
        return None
    return target
