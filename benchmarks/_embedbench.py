"""Helpers shared by the embed benchmarks (make_photos, embed_throughput, embed_incremental)."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("FACESETS_BENCH_CACHE", Path(tempfile.gettempdir()) / "facesets_bench"))


def peak_rss_mb() -> float:
    """Peak resident memory of this process. Linux's VmHWM, because ru_maxrss carries the
    parent's peak across exec; elsewhere ru_maxrss (macOS reports bytes)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


class TreeRSS:
    """Peak of the summed resident memory of this process and all its descendants (worker
    processes included), sampled every `interval` seconds from /proc; 0 where there is none."""

    def __init__(self, interval: float = 0.1):
        import threading

        self.peak_mb, self.interval = 0.0, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, sum(_rss_mb(pid) for pid in _tree(os.getpid())))
            self._stop.wait(self.interval)


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def ensure_photos(count: int, seed: int = 0, folder: str | None = None) -> Path:
    """The generated photo set (made once, then reused from the cache)."""
    out = Path(folder) if folder else CACHE / f"photos_n{count}_s{seed}"
    if not (out / "truth.json").exists():
        subprocess.run([sys.executable, str(HERE / "make_photos.py"), "--out", str(out),
                        "--count", str(count), "--seed", str(seed)], check=True)
    return out


def photo_paths(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(reference: dict, candidate: dict, min_iou: float = 0.4) -> tuple[int, int, list[float]]:
    """(reference faces, of them found in candidate, cosines of matched embeddings).
    Each side maps file name -> list of (box, embedding or None)."""
    total, found, cosines = 0, 0, []
    for name, ref_faces in reference.items():
        pool = list(candidate.get(name, []))
        for box, emb in ref_faces:
            total += 1
            scores = [iou(box, c[0]) for c in pool]
            if not scores or max(scores) < min_iou:
                continue
            best = int(np.argmax(scores))
            found += 1
            other = pool.pop(best)[1]
            if emb is not None and other is not None:
                cosines.append(float(np.dot(emb, other) / (np.linalg.norm(emb) * np.linalg.norm(other))))
    return total, found, cosines


def truth_recall(truth: dict, candidate: dict) -> float:
    """Share of generated faces with a detection whose centre lies inside the truth box."""
    total = found = 0
    for name, boxes in truth.items():
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b, _ in candidate.get(name, [])]
        for box, _ in boxes:
            total += 1
            found += any(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in centres)
    return found / total if total else 1.0


def unmatched(truth: dict, candidate: dict) -> tuple[int, int]:
    """(detections whose centre lies in no generated face's box, of them how many lie inside
    the square of a pasted LFW crop: its second person, if any)."""
    missed = pasted = 0
    for name, found in candidate.items():
        boxes = [b for b, _ in truth.get(name, [])]
        for box, _ in found:
            x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes):
                continue
            missed += 1
            # the truth box is 0.6 of the pasted square's side, around the same centre
            pasted += any(abs(x - (b[0] + b[2]) / 2) <= (b[2] - b[0]) / 1.2
                          and abs(y - (b[1] + b[3]) / 2) <= (b[3] - b[1]) / 1.2 for b in boxes)
    return missed, pasted


def truth_faces(folder: Path) -> dict:
    truth = json.loads((Path(folder) / "truth.json").read_text())
    return {t["file"]: [(b, None) for b in t["faces"]] for t in truth}
