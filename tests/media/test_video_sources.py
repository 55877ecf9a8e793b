"""Videos as sources: frames sampled every step and at scene changes, rotation honoured, each
face with its frame, crops cut from the frame, broken files as error rows (issue 18, acceptance 2)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from facesets.catalog import Catalog
from facesets.cluster import cluster, refine
from facesets.embed import EmbedOptions, embed
from facesets.engines import EngineOptions
from facesets.export import export
from facesets.media import DecodeError
from facesets.media.video import SampleStats, read_frame, sample_frames
from facesets.testing import lfw_face, write_video

PEOPLE = ("George_W_Bush", "Colin_Powell", "Tony_Blair")
# three people in turn, three different photos each, shots from 0.6 s to 4 s: 20 s in all
SECONDS = (2.6, 0.6, 3.0, 1.6, 2.0, 0.8, 3.0, 2.4, 4.0)
DLIB = EngineOptions(engine="dlib")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict:
    """VIDEOS/: the 20 s video, its copy turned by a rotation tag, and three broken .mp4 files."""
    root = tmp_path_factory.mktemp("videos")
    shots = [(lfw_face(PEOPLE[n % 3], 2 * (n // 3)), SECONDS[n]) for n in range(9)]
    times = write_video(root / "people.mp4", shots)
    write_video(root / "turned.mp4", shots, rotation=90)   # a phone held sideways: stored turned, tagged 90
    good = (root / "people.mp4").read_bytes()
    (root / "zero.mp4").write_bytes(b"")
    (root / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (root / "notes.mp4").write_text("this is not a video\n")
    return {"root": root, "shots": [(PEOPLE[n % 3], *times[n]) for n in range(9)]}


def _digests(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_frames_every_step_and_at_each_cut_and_one_frame_read_again_exactly(library):
    path = library["root"] / "people.mp4"
    stats = SampleStats()
    frames = list(sample_frames(path, step=1.0, stats=stats))
    times = [f.t_ms / 1000 for f in frames]
    assert stats.info.width == 640 and stats.info.height == 480 and stats.info.rotation == 0
    assert stats.decoded == 400 and 20 <= len(frames) <= 30
    cuts = [start for _, start, _ in library["shots"][1:]]
    # every shot is sampled, the short ones too, each within 0.3 s of its first frame
    for start in cuts:
        assert any(start <= t < start + 0.35 for t in times), (start, times)
    assert stats.scenes >= 6
    assert all(b - a <= 1.05 for a, b in zip(times, times[1:]))          # never more than a step apart
    again = read_frame(path, frames[7].index, frames[7].t_ms)           # what crops are cut from
    assert np.array_equal(again.rgb, frames[7].image.rgb)
    assert [f.index for f in sample_frames(path, step=1.0, max_seconds=5.0)][-1] <= 5 * 20


def test_a_still_video_is_sampled_once_and_a_rotation_tag_turns_every_frame(tmp_path, library):
    still = tmp_path / "still.mp4"
    write_video(still, [(lfw_face("Colin_Powell", 0), 5.0)], fps=10)
    stats = SampleStats()
    assert len(list(sample_frames(still, stats=stats))) < 5 and stats.repeats >= 1   # drift under 2 px a step: repeats
    stats = SampleStats()
    turned = list(sample_frames(library["root"] / "turned.mp4", stats=stats))
    upright = list(sample_frames(library["root"] / "people.mp4"))
    assert stats.info.rotation == 90 and (stats.info.width, stats.info.height) == (640, 480)
    assert turned[0].image.rgb.shape == (480, 640, 3)                   # upright, as a player shows it
    assert np.abs(turned[0].image.rgb.astype(int) - upright[0].image.rgb).mean() < 3
    frame = turned[3]
    assert np.array_equal(read_frame(library["root"] / "turned.mp4", frame.index, frame.t_ms).rgb, frame.image.rgb)


def test_broken_videos_say_why(library):
    root = library["root"]
    for name, reason in (("zero.mp4", "zero bytes"), ("truncated.mp4", "truncated or corrupt video"),
                         ("notes.mp4", "not a video")):
        with pytest.raises(DecodeError, match=reason):
            list(sample_frames(root / name))


@pytest.mark.slow
def test_a_video_of_three_people_gives_those_people_their_shots_and_one_face_crops(tmp_path, library):
    """Acceptance 2: the three people, a face from >= 90% of the distinct shots, one-face crops in
    the export, the video itself in the photos target, broken files as error rows, sources untouched."""
    root = library["root"]
    before = _digests(root)
    with Catalog.open(tmp_path / "c.db") as catalog:
        result = embed(catalog, [root], engine_options=DLIB)
        errors = {Path(f.path).name: f.error for f in catalog.files.all() if f.status == "error"}
        assert errors == {"zero.mp4": "zero bytes", "truncated.mp4": "truncated or corrupt video (cannot be opened)",
                          "notes.mp4": "not a video (unrecognised format)"}
        assert result.faces >= 36
        cluster(catalog)
        refine(catalog, params={"min_faces": 3})
        faces = catalog.faces.all()
        frames = catalog.faces.frames_of(f.id for f in faces)
        assert set(frames) == {f.id for f in faces}                     # every face knows its frame
        people: dict[int, set] = {}
        for video in ("people.mp4", "turned.mp4"):
            shown = 0
            for name, start, end in library["shots"]:
                found = [f.person_id for f in faces if Path(f.path).name == video
                         and start <= frames[f.id].t_ms / 1000 < end and f.person_id is not None]
                shown += bool(found)
                for person in found:
                    people.setdefault(person, set()).add(name)
            assert shown >= 0.9 * len(library["shots"]), video
        assert sorted(len(names) for names in people.values()) == [1, 1, 1]      # three people, one each
        assert sorted(next(iter(n)) for n in people.values()) == sorted(PEOPLE)
        stats = export(catalog, tmp_path / "out", targets=("roop", "folders"))
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert stats["facesets"] == 3 and stats["rejected_crops"] == 0 and stats["crops"] >= 9
    for entry in manifest["facesets"]:
        crops = json.loads((out / entry["folder"] / "manifest.json").read_text())["faces"]
        assert all("frame_ms" in c and Path(c["source"]).suffix == ".mp4" for c in crops)
        assert {Path(p).suffix for p in entry["photos"]} == {".mp4"}     # the video file itself
        for photo in entry["photos"]:
            assert hashlib.sha256((out / photo).read_bytes()).hexdigest() in before.values()
    assert _digests(root) == before


def test_a_second_embed_reads_no_video_again(tmp_path, library):
    one = tmp_path / "one"
    one.mkdir()
    (one / "clip.mp4").write_bytes((library["root"] / "people.mp4").read_bytes())
    with Catalog.open(tmp_path / "c.db") as catalog:
        first = embed(catalog, [one], engine_options=DLIB, options=EmbedOptions(video_max_faces=6))
        assert first.faces == 6                                         # the per-video cap
        spread = sorted(f.t_ms for f in catalog.faces.frames_of(f.id for f in catalog.faces.all()).values())
        assert spread[-1] - spread[0] > 12000                           # one face per span of the video, not the first six
        second = embed(catalog, [one], engine_options=DLIB)
        assert second.decoded == 0 and second.faces == 0 and len(catalog.faces.all()) == 6


def test_unchanged_sources_are_not_opened_and_touched_ones_only_hashed(tmp_path, monkeypatch):
    """The scan only stats: a re-run over an unchanged video and photo opens neither; after a
    touch (new date, same bytes) each is read once to hash it, and neither is decoded again."""
    import os
    import shutil

    from facesets.embed import work
    from xmphelp import KNN

    lib = tmp_path / "lib"
    lib.mkdir()
    write_video(lib / "clip.mp4", [(lfw_face("Tony_Blair", 0), 2.0), (lfw_face("Colin_Powell", 1), 2.0)])
    shutil.copy2(KNN / "test" / "kit_with_rose.jpg", lib / "kit_with_rose.jpg")
    calls: dict[str, int] = {}
    for name in ("read_bytes", "read_sha256", "analyse_video", "prepared_image"):
        real = getattr(work, name)
        monkeypatch.setattr(work, name, lambda *a, _real=real, _name=name, **k:
                            calls.__setitem__(_name, calls.get(_name, 0) + 1) or _real(*a, **k))

    def state(catalog):
        faces = catalog.faces.all()
        return [(f.id, f.file_id, f.embedding.tobytes()) for f in faces], catalog.faces.frames_of(f.id for f in faces)

    with Catalog.open(tmp_path / "c.db") as catalog:
        first = embed(catalog, [lib], engine_options=DLIB)
        assert first.decoded == 2 and first.faces >= 4 and calls == {"read_bytes": 1, "read_sha256": 1,
                                                                    "analyse_video": 1, "prepared_image": 1}
        before = state(catalog)
        assert before[1]                                                # the video's faces have frames
        calls.clear()
        again = embed(catalog, [lib], engine_options=DLIB)
        assert calls == {} and again.decoded == 0 and state(catalog) == before
        for path in lib.iterdir():
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        touched = embed(catalog, [lib], engine_options=DLIB)
        assert calls == {"read_bytes": 1, "read_sha256": 1} and touched.decoded == 0 and state(catalog) == before
        calls.clear()
        embed(catalog, [lib], engine_options=DLIB)
        assert calls == {}
