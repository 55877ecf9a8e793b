"""A video as a source of faces: its sampled frames detected one after another, each face
remembering its frame, and a cap so one long clip of one person does not flood that person.

The frames are decoded in a thread of their own while the detector runs on the previous one;
memory stays at a few frames and the chips of the faces kept so far. The cap keeps, in each of
`max_faces` equal spans of the video, the faces of its best frame (largest, sharpest face).
"""
from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import Iterator

from facesets.catalog.types import VideoFrame
from facesets.media import DecodeError
from facesets.media.video import SampleStats, sample_frames

AHEAD = 2                # frames decoded ahead of the detector
UNKNOWN_SPAN_S = 10.0    # the cap's span when the container does not say how long the video is


def analyse_video(path: str, engine, options, find_faces) -> dict:
    """{error} or {width, height, taken_at, faces}: the faces (with chips, each with its
    "frame") of a video's sampled frames, capped. `find_faces(engine, image, options)` is the
    embed stage's own detection and alignment, applied to each frame as to a photo."""
    if options.input_mode != "photos":
        return {"error": f"a video ({options.input_mode} mode reads images only)"}
    stats = SampleStats()
    kept = _Cap(options.video_max_faces)
    width = height = 0
    try:
        with _prefetched(sample_frames(path, options.video_step, options.max_video_seconds, stats)) as frames:
            for frame in frames:
                if kept.span is None:
                    kept.span = _span(stats, options)
                height, width = frame.image.upright_shape
                frame.image.prepared = engine.prepare(frame.image)
                faces = find_faces(engine, frame.image, options)
                for face in faces:
                    face["frame"] = VideoFrame(frame.index, frame.t_ms)
                kept.offer(frame.t_ms, faces)
    except DecodeError as exc:
        return {"error": str(exc)}
    return {"width": width, "height": height, "taken_at": None, "faces": kept.faces()}


def _span(stats: SampleStats, options) -> float:
    """Milliseconds of video per kept frame."""
    seconds = stats.info.seconds if stats.info else 0.0
    if options.max_video_seconds:
        seconds = min(seconds, options.max_video_seconds) if seconds else options.max_video_seconds
    return 1000.0 * (seconds / max(options.video_max_faces, 1) if seconds else UNKNOWN_SPAN_S)


def frame_quality(faces: list[dict]) -> float:
    """A frame is as good as its best face: large and sharp (engine-independent)."""
    return max((f["short_edge"] * min(f.get("sharpness") or 0.0, 400.0) ** 0.5 for f in faces), default=0.0)


class _Cap:
    """The faces of the best frame of each span of the video, then at most `max_faces` of them."""

    def __init__(self, max_faces: int):
        self.max_faces = max(int(max_faces), 1)
        self.span: float | None = None
        self.best: dict[int, tuple[float, float, list[dict]]] = {}   # span -> (quality, time, faces)

    def offer(self, t_ms: float, faces: list[dict]) -> None:
        if not faces:
            return
        slot, quality = int(t_ms // self.span), frame_quality(faces)
        if slot not in self.best or quality > self.best[slot][0]:
            self.best[slot] = (quality, t_ms, faces)

    def faces(self) -> list[dict]:
        frames = sorted(self.best.values(), key=lambda entry: (-entry[0], entry[1]))
        chosen, count = [], 0
        for quality, t_ms, faces in frames:
            if count and count + len(faces) > self.max_faces:
                continue
            chosen.append((t_ms, faces))
            count += len(faces)
        return [face for _, faces in sorted(chosen, key=lambda entry: entry[0]) for face in faces]


@contextmanager
def _prefetched(frames: Iterator, depth: int = AHEAD):
    """`frames` produced by a thread of their own, `depth` ahead of the consumer; an error in
    the producer is raised in the consumer, and leaving early stops the producer."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in frames:
                if not _put(slots, stop, item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            _put(slots, stop, exc)
            return
        finally:
            getattr(frames, "close", lambda: None)()
        _put(slots, stop, end)

    def consume():
        while True:
            item = slots.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    worker = threading.Thread(target=produce, name="video-frames", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()


def _put(slots: queue.Queue, stop: threading.Event, item) -> bool:
    """Hand `item` over unless the consumer has left; whether it was handed over."""
    while not stop.is_set():
        try:
            slots.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
