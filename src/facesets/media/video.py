"""Video sources: frames sampled from a video file, and one frame read again for its crops.

Decoded by OpenCV's FFmpeg backend: opencv-python-headless is already a dependency and its
wheels bundle FFmpeg's decoders (H.264, HEVC, VP8/9, AV1, MPEG-4, ProRes, MJPEG) on Linux,
macOS and Windows, so videos need no new dependency. It applies the container's rotation
(`CAP_PROP_ORIENTATION_AUTO`; the angle is `CAP_PROP_ORIENTATION_META`), so every frame and every
coordinate is upright, as a photo's are after its EXIF orientation.

Frames are sampled every `step` seconds and at scene changes (a cut between two probes, taken
four times a step); a sample nearly identical to the previous one is skipped before any
detector sees it. Failures raise `DecodeError` with a one-line reason, as photos do.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from facesets.config import VIDEO_EXTENSIONS
from facesets.media.decode import DecodedImage, DecodeError, readable_file

PROBES_PER_STEP = 4      # scene changes are looked for this many times per step
SCENE_CUT = 30.0         # mean absolute difference (0-255) of two probes' thumbnails: a new shot
SAME_FRAME = 2.0         # below this difference from the last sample, a sample is a repeat
THUMB = (64, 36)         # the thumbnail probes compare, grey
TRUNCATED = 0.9          # frames ending before this share of the stated length: a truncated file
_HEADS = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")   # ISO media boxes (mp4, mov, 3gp)
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")   # FFmpeg's own messages off: a broken file is an error row


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(os.fspath(path)).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int              # as the container states it (0: unknown)
    width: int               # upright, rotation applied
    height: int
    rotation: int            # degrees the container asks for (already applied to every frame)

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.frames > 0 and self.fps > 0 else 0.0


@dataclass
class SampledFrame:
    index: int               # in decode order, 0: the first frame
    t_ms: float              # presentation time
    image: DecodedImage      # upright RGB
    scene: bool = False      # sampled because a new shot began


@dataclass
class SampleStats:
    decoded: int = 0         # frames decoded (every frame is, to reach the next sample)
    probed: int = 0
    sampled: int = 0
    repeats: int = 0         # samples skipped as near-identical to the previous one
    scenes: int = 0
    info: VideoInfo | None = field(default=None, repr=False)


def open_video(path: str | os.PathLike):
    """(cv2.VideoCapture, VideoInfo) of a readable video, or DecodeError saying why not."""
    import cv2

    path = readable_file(path)
    capture = _capture(path)
    if not capture.isOpened():
        capture.release()
        raise DecodeError(_unopened_reason(path))
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if not (math.isfinite(fps) and 0 < fps < 1000):
        fps = 0.0
    return capture, VideoInfo(fps, max(frames, 0), width, height, rotation)


def _capture(path: str):
    """A capture on FFmpeg, quiet (a broken file is an error row, not lines on the console).
    A name that is not valid text (OpenCV takes UTF-8) is opened through a temporary link."""
    import cv2

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return _open_capture(path)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _open_capture(path: str):
    import cv2

    try:
        return cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    except UnicodeEncodeError:
        pass
    folder = tempfile.mkdtemp(prefix="facesets-video-")
    link = os.path.join(folder, "video" + Path(path).suffix.encode("ascii", "replace").decode().replace("?", "_"))
    try:
        os.symlink(os.path.abspath(path), link)
        return cv2.VideoCapture(link, cv2.CAP_FFMPEG)
    finally:
        for leftover in (link, folder):
            try:
                os.unlink(leftover) if leftover == link else os.rmdir(leftover)
            except OSError:
                pass


def _unopened_reason(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if head[4:8] in _HEADS or head[:4] == b"\x1aE\xdf\xa3" or (head[:4] == b"RIFF" and head[8:11] == b"AVI"):
        return "truncated or corrupt video (cannot be opened)"
    return "not a video (unrecognised format)"


def sample_frames(path: str | os.PathLike, step: float = 1.0, max_seconds: float | None = None,
                  stats: SampleStats | None = None) -> Iterator[SampledFrame]:
    """Upright frames every `step` seconds and at scene changes, near-identical repeats left
    out, up to `max_seconds` into the video (None: to the end)."""
    import cv2

    stats = stats if stats is not None else SampleStats()
    capture, info = open_video(path)
    stats.info = info
    step_ms = max(float(step), 0.01) * 1000.0
    probe_ms = step_ms / PROBES_PER_STEP
    half = 500.0 / info.fps if info.fps else 0.0
    limit = max_seconds * 1000.0 if max_seconds else math.inf
    next_sample = next_probe = 0.0
    last_probe = last_kept = None
    index, t_ms = -1, -math.inf
    try:
        while capture.grab():
            index += 1
            t_ms = _frame_time(capture, index, info.fps, t_ms)
            if t_ms > limit:
                break
            due = t_ms + half >= next_sample
            if not due and t_ms + half < next_probe:
                continue
            ok, bgr = capture.retrieve()
            if not ok or bgr is None:
                continue
            stats.probed += 1
            thumb = _thumb(bgr)
            scene = last_probe is not None and _difference(thumb, last_probe) > SCENE_CUT
            last_probe = thumb
            while next_probe <= t_ms + half:
                next_probe += probe_ms
            if not (due or scene):
                continue
            next_sample = t_ms + step_ms if scene else max(next_sample + step_ms, t_ms + half)
            if last_kept is not None and _difference(thumb, last_kept) < SAME_FRAME:
                stats.repeats += 1
                continue
            last_kept = thumb
            stats.sampled += 1
            stats.scenes += int(scene)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield SampledFrame(index, t_ms, DecodedImage(rgb, rgb.shape[1], rgb.shape[0], 1.0, None), scene)
    finally:
        stats.decoded = index + 1
        capture.release()
    if index < 0:
        raise DecodeError("truncated or corrupt video (no frame could be decoded)")
    if t_ms <= limit and info.frames > 0 and index + 1 < TRUNCATED * info.frames:
        raise DecodeError(f"truncated or corrupt video (frames stop at {(index + 1) / max(info.fps, 1e-3):.1f} s "
                          f"of {info.seconds:.1f} s)")


def _frame_time(capture, index: int, fps: float, previous: float) -> float:
    """The grabbed frame's presentation time; counted from its index where the container's
    times are missing or go backwards."""
    import cv2

    t_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
    if not math.isfinite(t_ms) or t_ms <= previous:
        t_ms = index * 1000.0 / fps if fps else previous + 1.0
    return t_ms


def _thumb(bgr: np.ndarray) -> np.ndarray:
    import cv2

    small = cv2.resize(bgr, THUMB, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)))


def read_frame(path: str | os.PathLike, index: int, t_ms: float) -> DecodedImage:
    """One frame again, exactly as `sample_frames` gave it (crops and exports are cut from it):
    a seek to it, checked against its time, else every frame decoded up to it."""
    import cv2

    capture, info = open_video(path)
    try:
        tolerance = 500.0 / info.fps if info.fps else 1.0
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, bgr = capture.read()
        if not (ok and abs(float(capture.get(cv2.CAP_PROP_POS_MSEC)) - t_ms) <= tolerance):
            capture.release()
            capture, _ = open_video(path)
            for _ in range(int(index)):
                if not capture.grab():
                    break
            ok, bgr = capture.read()
        if not ok or bgr is None:
            raise DecodeError(f"frame at {t_ms / 1000:.2f} s cannot be decoded (video changed or truncated?)")
    finally:
        capture.release()
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return DecodedImage(rgb, rgb.shape[1], rgb.shape[0], 1.0, None)


def read_source(path: str | os.PathLike, frame=None, reduce_to: int | None = None) -> DecodedImage:
    """The pixels a face was found in: its photo, or its video's frame (a `VideoFrame`)."""
    if frame is None:
        from facesets.media.decode import read_image

        return read_image(path, reduce_to=reduce_to)
    return read_frame(path, frame.index, frame.t_ms)
