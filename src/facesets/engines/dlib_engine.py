"""dlib engine: HOG (or YuNet) detector, 5-point shape predictor, ResNet 128-d descriptor.

Works offline from the package registry alone (`dlib-bin` + `face_recognition_models`),
which makes it the default on a fresh machine.
"""
from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from facesets.engines.base import (
    Detection, EngineUnavailable, FaceEngine, l2_normalise, sort_largest_first,
)

log = logging.getLogger("facesets")

CHIP_SIZE = 150
CHIP_PADDING = 0.25
PROPOSAL_SIDE = 1000  # YuNet proposes faces on the image reduced to this long side ...
HOG_FACE = 100        # ... and HOG confirms each on a crop where the face is this wide,
CONFIRM_UPSAMPLE = 2.0  # cut from a decode where the face is at least HOG_FACE / this wide
PROPOSAL_SCORE = 0.2  # low: every proposal is confirmed by HOG, a missed one is a lost face
CONFIRM_ZOOMS = (1.0, 1.4, 2.0)  # HOG is tried with the face at these multiples of HOG_FACE
FULL_PASS = False     # HOG over the whole reduced image as well (YuNet already proposes large faces)
PROPOSAL_SLACK = 0.5  # proposals under this share of --min-face are not confirmed (HOG's box is the size)


def face_recognition_model(name: str) -> Path:
    """A weights file of the face_recognition_models package, found without importing it (its
    __init__ needs pkg_resources, which recent setuptools no longer ship, and warns on stderr)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable("dlib engine unavailable: pip install face_recognition_models")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise EngineUnavailable(f"{path} is missing: reinstall face_recognition_models")
    return path


class _ModelFiles:
    @staticmethod
    def face_recognition_model_location() -> str:
        return str(face_recognition_model("dlib_face_recognition_resnet_model_v1.dat"))

    @staticmethod
    def pose_predictor_five_point_model_location() -> str:
        return str(face_recognition_model("shape_predictor_5_face_landmarks.dat"))


def _load_dlib():
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise EngineUnavailable(
            f"dlib engine unavailable ({exc.name} not installed): pip install dlib-bin face_recognition_models"
        ) from None
    return dlib, _ModelFiles


class DlibEngine(FaceEngine):
    engine = "dlib"
    model = "resnet_v1"
    landmark_scheme = "dlib5"
    dim = 128
    chip_size = CHIP_SIZE
    face_px = round(CHIP_SIZE / (1 + 2 * CHIP_PADDING))  # the face box's side inside a chip
    chip_upsample = 2.0  # descriptors of chips upsampled 2x match full-resolution ones at cosine > 0.99
    holds_gil = True     # dlib's Python bindings never release it

    def __init__(self, detector: str = "hog", yunet_model: str | Path | None = None,
                 det_max_side: int = 2000, upsample: int | None = None, threads: int | None = None,
                 proposals: bool = True):
        self._args = dict(detector=detector, yunet_model=yunet_model, det_max_side=det_max_side,
                          upsample=upsample, threads=threads, proposals=proposals)
        dlib, frm = _load_dlib()
        self._dlib = dlib
        self._frm = frm
        self._local = threading.local()  # dlib's detector and predictor are not thread-safe
        self._descriptor = None  # built on the first chips: a detection-only engine never pays for it
        self._descriptor_lock = threading.Lock()
        self.det_max_side = det_max_side
        self.decode_side = det_max_side
        self.upsample = upsample
        self._proposer = None
        if detector == "hog":
            self._yunet = None
            if proposals:  # optional: without a YuNet file, HOG scans the whole image alone
                from facesets.engines.yunet import YuNetDetector
                try:
                    self._proposer = YuNetDetector(yunet_model, score_threshold=PROPOSAL_SCORE, threads=threads)
                    self.decode_side = PROPOSAL_SIDE
                except EngineUnavailable:
                    pass
        elif detector == "yunet":
            from facesets.engines.yunet import YuNetDetector
            self._yunet = YuNetDetector(yunet_model, threads=threads)
        else:
            raise EngineUnavailable(f"unknown detector {detector!r} for the dlib engine (hog, yunet)")
        self.detector = detector

    def maker(self):
        yunet = self._proposer or self._yunet  # the file this process found, not a new search
        return functools.partial(DlibEngine, **{**self._args, "upsample": self.upsample, "threads": 1,
                                                "yunet_model": str(yunet.path) if yunet else None})

    def weight_files(self) -> list:
        yunet = self._proposer or self._yunet
        return [Path(self._frm.face_recognition_model_location()),
                Path(self._frm.pose_predictor_five_point_model_location()), *([yunet.path] if yunet else [])]

    def options(self):
        from facesets.engines import EngineOptions

        yunet = self._proposer or self._yunet
        return EngineOptions(engine=self.engine, detector=self.detector, yunet_model=str(yunet.path) if yunet else None)

    @property
    def _shape(self):
        """This thread's 5-point shape predictor (loaded once per thread)."""
        shape = getattr(self._local, "shape", None)
        if shape is None:
            shape = self._local.shape = self._dlib.shape_predictor(self._frm.pose_predictor_five_point_model_location())
        return shape

    @property
    def _hog(self):
        hog = getattr(self._local, "hog", None)
        if hog is None:
            hog = self._local.hog = self._dlib.get_frontal_face_detector()
        return hog

    def _upsample_for(self, rgb: np.ndarray) -> int:
        if self.upsample is not None:
            return self.upsample
        # HOG finds faces from 80 px; upsampling small images finds 40 px faces too.
        return 1 if max(rgb.shape[:2]) <= 1000 else 0

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list[Detection]:
        self.detector_calls += 1
        if self._yunet is not None:
            boxes = [(d.box, d.score) for d in self._yunet.detect(rgb)]
        else:
            upsample = self._upsample_for(rgb) if upsample is None else upsample
            rects, scores, _ = self._hog.run(rgb, upsample, 0.0)
            boxes = [
                (np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32), float(s))
                for r, s in zip(rects, scores)
            ]
        out = []
        height, width = rgb.shape[:2]
        for box, score in boxes:
            x1, y1, x2, y2 = (float(v) for v in box)
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(width), x2), min(float(height), y2)
            if x2 - x1 < 8 or y2 - y1 < 8:
                continue
            shape = self._shape(rgb, self._dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1))
            pts = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
            out.append(Detection(np.array([x1, y1, x2, y2], np.float32), pts, score))
        return sort_largest_first(out)

    def detect_image(self, image, reread, min_face: float | None = None) -> list[Detection]:
        """HOG decides what a face is, as in face_recognition, without scanning 12 MP with it:
        HOG scans the reduced image for large faces, YuNet proposes the smaller ones, and HOG
        confirms each proposal on a crop read at the resolution that face needs."""
        if self._proposer is None:
            return super().detect_image(image, reread, min_face)
        rgb = image.rgb
        factor = min(1.0, PROPOSAL_SIDE / max(rgb.shape[:2]))
        small = rgb if factor >= 1.0 else cv2.resize(
            rgb, (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor)), interpolation=cv2.INTER_AREA)
        to_original = 1.0 / (factor * image.scale)
        found = [d.scaled(to_original) for d in self.detect(small, upsample=0)] if FULL_PASS else []
        proposals = [p.scaled(to_original) for p in self._proposer.detect(small)]
        proposals = [p for p in proposals if not any(_centre_inside(p.box, f.box) for f in found)
                     and p.short_edge >= (min_face or 0.0) * PROPOSAL_SLACK]
        if proposals:
            source = reread(max(HOG_FACE / CONFIRM_UPSAMPLE / max(p.short_edge, 1.0) for p in proposals))
            for proposal in proposals:
                det = self._confirm(source, proposal)
                if det is not None and not any(_centre_inside(det.box, f.box) for f in found):
                    found.append(det)
        return sort_largest_first(found)

    def _confirm(self, source, proposal: Detection) -> Detection | None:
        """HOG on a crop around `proposal`; HOG is picky about scale, so a few face sizes are tried."""
        for zoom in CONFIRM_ZOOMS:
            det = self._confirm_at(source, proposal, HOG_FACE * zoom)
            if det is not None:
                return det
        return None

    def _confirm_at(self, source, proposal: Detection, face: float) -> Detection | None:
        """HOG (upsample 0) on a crop around `proposal`, scaled so the face is `face` px wide."""
        box = proposal.box * source.scale
        side = float(max(box[2] - box[0], box[3] - box[1]))
        height, width = source.rgb.shape[:2]
        x0, y0 = max(0, int(box[0] - side * 0.6)), max(0, int(box[1] - side * 0.6))
        x1, y1 = min(width, int(box[2] + side * 0.6) + 1), min(height, int(box[3] + side * 0.6) + 1)
        zoom = face / max(side, 1.0)
        crop = source.rgb[y0:y1, x0:x1]
        if abs(zoom - 1.0) > 0.02:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * zoom)), max(1, round(crop.shape[0] * zoom))),
                              interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC)
        else:
            zoom = 1.0
        crop = np.ascontiguousarray(crop)
        centre = ((box[:2] + box[2:]) / 2 - (x0, y0)) * zoom
        hits = [d for d in self.detect(crop, upsample=0) if _centre_inside(np.r_[centre, centre], d.box, 0.0)]
        if not hits:
            return None
        best = min(hits, key=lambda d: float(np.sum(((d.box[:2] + d.box[2:]) / 2 - centre) ** 2)))
        back = 1.0 / (zoom * source.scale)
        offset = np.array([x0, y0], np.float32) / source.scale
        return Detection(best.box * back + np.tile(offset, 2), best.landmarks * back + offset, best.score)

    def _shape_from_landmarks(self, detection: Detection):
        dlib = self._dlib
        x1, y1, x2, y2 = (int(round(v)) for v in detection.box)
        rect = dlib.rectangle(x1, y1, max(x1 + 1, x2 - 1), max(y1 + 1, y2 - 1))
        points = dlib.points()
        for x, y in detection.landmarks:
            points.append(dlib.point(int(round(x)), int(round(y))))
        return dlib.full_object_detection(rect, points)

    def align(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        shape = self._shape_from_landmarks(detection)
        return np.asarray(self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def landmarks_in_box(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """5 landmarks for a box from elsewhere (a crop's whole frame, a manifest)."""
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        shape = self._shape(rgb, self._dlib.rectangle(x1, y1, x2 - 1, y2 - 1))
        return np.array([[p.x, p.y] for p in shape.parts()], np.float32)

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """dlib's descriptors, computed by ONNX Runtime from dlib's own weights (dlib_onnx.py:
        equal to dlib's within 1e-6, ~13x faster than dlib-bin's CPU path)."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        with self._descriptor_lock:
            if self._descriptor is None:
                self._descriptor = self._load_descriptor()
        return l2_normalise(np.asarray(self._descriptor([np.ascontiguousarray(c, dtype=np.uint8) for c in chips]),
                                       np.float32))

    def _load_descriptor(self):
        """The ONNX port of the weights file; dlib's own network if the file is not the one it knows."""
        from facesets.engines.dlib_onnx import DlibFormatError, OnnxDescriptor

        weights = self._frm.face_recognition_model_location()
        try:
            return OnnxDescriptor(weights, self._args["threads"])
        except DlibFormatError as exc:
            log.warning(f"dlib descriptors on dlib itself (slower): {exc}")
            net = self._dlib.face_recognition_model_v1(weights)
            return lambda chips: [np.asarray(v) for v in net.compute_face_descriptor(chips)]


def _centre_inside(box: np.ndarray, other: np.ndarray, margin: float = 0.0) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(other[0] - margin <= cx <= other[2] + margin and other[1] - margin <= cy <= other[3] + margin)
