"""Small-face detection variants of the InsightFace engine, measured side by side (issue 19).

Every variant starts with the engine's 640 px SCRFD pass, so the faces found there are the same
in all of them; they differ in how they look for the faces that pass cannot see:
  640          nothing more (facesets before the second look; insightface's own loop);
  second look  the engine's default: SCRFD again on cuts around the 640 pass's faint small
               detections (scores >= 0.03), packed into one input (src/facesets/engines/second_look.py);
  second look 0.05 / 0.02   the same with another weakest score looked at;
  yunet        YuNet proposes on the photo reduced to 1000 px (as the dlib engine runs it), SCRFD
               confirms each proposal on the same cuts;
  tiles        SCRFD on overlapping 640 px tiles of the photo reduced to 1280 px, NMS across;
  1280         SCRFD on the whole photo at 1280 px.
For each: truth recall, detections matching no placed face, detection CPU per photo (SCRFD's
resize in the decode threads included) and SCRFD's input pixels per photo in 640 x 640 passes,
from which the cost of buffalo_l's det_10g (27x det_500m per pass) is projected.
"""
from __future__ import annotations

import contextlib
import time

import cv2
import numpy as np

DET_10G_PER_PASS = 27.0  # det_10g / det_500m CPU per 640 x 640 pass
TILE_SIDE, TILE_OVERLAP, TILED_SIDE = 640, 128, 1280
YUNET_SIDE, YUNET_SCORE = 1000, 0.2


class Meter:
    """SCRFD's input pixels and CPU, and YuNet's CPU, counted around the sessions' calls."""

    def __init__(self, engine):
        self.scrfd_pixels = self.scrfd_cpu = self.yunet_cpu = 0.0
        session = engine._det.session
        run = session.run

        def counted(names, feeds):
            blob = next(iter(feeds.values()))
            self.scrfd_pixels += blob.shape[2] * blob.shape[3]
            start = time.process_time()
            try:
                return run(names, feeds)
            finally:
                self.scrfd_cpu += time.process_time() - start

        engine._det.session = _SessionProxy(session, counted)

    @contextlib.contextmanager
    def yunet(self):
        start = time.process_time()
        try:
            yield
        finally:
            self.yunet_cpu += time.process_time() - start


class _SessionProxy:
    def __init__(self, session, run):
        self._session, self.run = session, run

    def __getattr__(self, name):
        return getattr(self._session, name)


def upright_small(image, side: int) -> tuple[np.ndarray, float]:
    """(pixels, scale): the photo resized (bilinear, as SCRFD resizes) to `side` on its long
    edge, turned upright after the resize."""
    from facesets.media.decode import TRANSPOSING, oriented_array

    height, width = image.upright_shape
    factor = side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    stored = size[::-1] if image.orientation in TRANSPOSING else size
    return oriented_array(cv2.resize(image.stored, stored), image.orientation), factor * image.scale


def _add(faces: list, extra, scale: float) -> None:
    """Detections (dets n x 5, kpss n x 5 x 2 at `scale` pixels per original pixel) that no face
    holds yet, joined to `faces`."""
    from facesets.engines.base import Detection

    for det, kps in zip(*extra):
        box = det[:4] / scale
        centre = (box[:2] + box[2:]) / 2
        if not any(f.box[0] <= centre[0] <= f.box[2] and f.box[1] <= centre[1] <= f.box[3] for f in faces):
            faces.append(Detection(box.astype(np.float32), (kps / scale).astype(np.float32), float(det[4])))


def first_pass(engine, image, reread, min_face):
    saved, engine.look_again = engine.look_again, False
    try:
        return engine.detect_image(image, reread, min_face)
    finally:
        engine.look_again = saved


def second_look(score: float):
    def detect(engine, image, reread, min_face, meter):
        saved, engine.candidate_score = engine.candidate_score, score
        try:
            return engine.detect_image(image, reread, min_face)
        finally:
            engine.candidate_score = saved
    return detect


def yunet_proposals(engine, image, reread, min_face, meter):
    from facesets.engines import second_look as look
    from facesets.engines.yunet import YuNetDetector

    if not hasattr(engine, "_bench_yunet"):
        engine._bench_yunet = YuNetDetector(score_threshold=YUNET_SCORE)
    faces = first_pass(engine, image, reread, min_face)
    small, scale = upright_small(image, YUNET_SIDE)
    with meter.yunet():
        proposals = [p.scaled(1.0 / scale) for p in engine._bench_yunet.detect(small)]
    spots = [((p.box[:2] + p.box[2:]) / 2, p.short_edge, None) for p in proposals
             if p.short_edge >= min_face * look.SIZE_SLACK
             and not any(f.box[0] <= (p.box[0] + p.box[2]) / 2 <= f.box[2]
                         and f.box[1] <= (p.box[1] + p.box[3]) / 2 <= f.box[3] for f in faces)]
    if spots:
        source = reread(min(1.0, max(look.zoom_for(side) for _, side, _ in spots)))
        faces += look.look_again(engine._det, source, faces, spots[:look.MAX_CANDIDATES], engine.face_score)
    return faces


def tiles(engine, image, reread, min_face, meter):
    faces = first_pass(engine, image, reread, min_face)
    small, scale = upright_small(image, TILED_SIDE)
    height, width = small.shape[:2]
    step = TILE_SIDE - TILE_OVERLAP
    for y in range(0, max(height - TILE_OVERLAP, 1), step):
        for x in range(0, max(width - TILE_OVERLAP, 1), step):
            canvas = np.zeros((TILE_SIDE, TILE_SIDE, 3), np.uint8)
            tile = small[y:y + TILE_SIDE, x:x + TILE_SIDE]
            canvas[:tile.shape[0], :tile.shape[1]] = tile
            dets, kpss = engine._det.detect_input(canvas)
            dets[:, :4] += (x, y, x, y)
            _add(faces, (dets, kpss + (x, y)), scale)
    return faces


def pass1280(engine, image, reread, min_face, meter):
    faces = first_pass(engine, image, reread, min_face)
    small, scale = upright_small(image, TILED_SIDE)
    _add(faces, engine._det.detect(small, input_size=(TILED_SIDE, TILED_SIDE)), scale)
    return faces


VARIANTS = {
    "640": lambda engine, image, reread, min_face, meter: first_pass(engine, image, reread, min_face),
    "second look": lambda engine, image, reread, min_face, meter: engine.detect_image(image, reread, min_face),
    "second look 0.05": second_look(0.05),
    "second look 0.02": second_look(0.02),
    "yunet": yunet_proposals,
    "tiles": tiles,
    "1280": pass1280,
}


def measure(engine, paths: list, truth: dict, crowd, min_face: float) -> dict:
    """Every variant on every photo (interleaved, so load on the machine hits them alike):
    per-photo means of detection CPU, SCRFD input pixels and CPU, YuNet CPU; truth recall and
    unmatched detections; faces found on the `crowd` photo."""
    from collections import Counter

    from facesets.embed.pipeline import Rereader
    from facesets.media import read_image
    from _embedbench import truth_recall, unmatched

    meter = Meter(engine)
    warm = read_image(paths[0])
    for detect in VARIANTS.values():  # sessions and YuNet's net are built on their first call
        detect(engine, warm, Rereader(warm, paths[0]).at, min_face, meter)
    totals = {name: Counter() for name in VARIANTS}
    found = {name: {} for name in VARIANTS}
    crowd_faces = {}
    for path in [*paths, crowd]:
        image = read_image(path)
        start = time.process_time()
        image.prepared = engine.prepare(image)
        prepare = time.process_time() - start
        for name, detect in VARIANTS.items():
            before = (meter.scrfd_pixels, meter.scrfd_cpu, meter.yunet_cpu)
            start = time.process_time()
            faces = [f for f in detect(engine, image, Rereader(image, path).at, min_face, meter)
                     if f.short_edge >= min_face]
            if path == crowd:
                crowd_faces[name] = len(faces)
                continue
            row = totals[name]
            row["cpu"] += prepare + time.process_time() - start
            row["scrfd_pixels"] += meter.scrfd_pixels - before[0]
            row["scrfd_cpu"] += meter.scrfd_cpu - before[1]
            row["yunet_cpu"] += meter.yunet_cpu - before[2]
            found[name][path.name] = [(f.box.tolist(), None) for f in faces]
    n = len(paths)
    base = totals["640"]
    unit_cpu = base["scrfd_cpu"] / (base["scrfd_pixels"] / 640 ** 2)  # one det_500m 640 x 640 pass
    rows = {}
    for name, row in totals.items():
        passes = row["scrfd_pixels"] / 640 ** 2 / n
        other = (row["cpu"] - row["scrfd_cpu"]) / n
        base_other = (base["cpu"] - base["scrfd_cpu"]) / n
        projected = (DET_10G_PER_PASS * unit_cpu * passes + other) / \
            (DET_10G_PER_PASS * unit_cpu * base["scrfd_pixels"] / 640 ** 2 / n + base_other)
        missed, in_pasted = unmatched(truth, found[name])
        rows[name] = {
            "truth_recall": round(truth_recall(truth, found[name]), 4),
            "faces": sum(len(v) for v in found[name].values()),
            "unmatched": missed, "unmatched_in_pasted_photo": in_pasted,
            "cpu_ms_per_photo": round(row["cpu"] / n * 1000, 1),
            "cpu_ratio": round(row["cpu"] / base["cpu"], 3),
            "scrfd_passes_per_photo": round(passes, 3),
            "yunet_ms_per_photo": round(row["yunet_cpu"] / n * 1000, 1),
            "det_10g_projected_ratio": round(projected, 3),
            "crowd_faces": crowd_faces[name],
        }
    return {"variants": rows, "photos": n, "min_face": min_face,
            "scrfd_640_pass_cpu_ms": round(unit_cpu * 1000, 1)}


def print_table(result: dict) -> None:
    print(f"detection variants on {result['photos']} photos (min_face {result['min_face']} px; one "
          f"det_500m 640 x 640 pass = {result['scrfd_640_pass_cpu_ms']} ms CPU):")
    print(f"  {'variant':18s} {'recall':>7s} {'unmatched':>9s} {'det CPU ms':>10s} {'ratio':>6s} "
          f"{'passes':>7s} {'det_10g':>8s} {'crowd':>6s}")
    for name, row in result["variants"].items():
        print(f"  {name:18s} {row['truth_recall']:7.3f} {row['unmatched']:5d} ({row['unmatched_in_pasted_photo']})"
              f" {row['cpu_ms_per_photo']:10.1f} {row['cpu_ratio']:6.2f} {row['scrfd_passes_per_photo']:7.2f}"
              f" {row['det_10g_projected_ratio']:8.2f} {row['crowd_faces']:6d}")
    print("  (unmatched: detections whose centre lies in no placed face's box; in brackets those inside "
          "a pasted LFW photo, whose crops often show a second person; passes: SCRFD input pixels in "
          "640 x 640 passes; det_10g: the ratio projected with 27x SCRFD cost per pass)")
