"""The faces repository's media methods: video frames (their own cannot-link key), faces by
index, and the regions `facesets tag` writes."""
from __future__ import annotations

import sqlite3

import numpy as np

from catalog_helpers import add_photo, new_catalog, unit
from facesets.catalog import AssignedBy, NewFace
from facesets.catalog.schema import SCHEMA_VERSION
from facesets.catalog.types import VideoFrame


def _video(cat, path: str, frames: list[VideoFrame]) -> int:
    """A video with one face per given frame (the first two in the same frame when equal)."""
    file_id = add_photo(cat, path, [unit(1, 0.01 * i) for i in range(len(frames))])
    cat.faces.set_frames(file_id, dict(enumerate(frames)))
    return file_id


def test_faces_of_a_video_remember_their_frame_and_frames_follow_the_faces(tmp_path):
    with new_catalog(tmp_path) as cat:
        photo = add_photo(cat, "/p/a.jpg", [unit(1)])
        video = _video(cat, "/p/v.mp4", [VideoFrame(30, 1000.0), VideoFrame(30, 1000.0), VideoFrame(95, 3166.7)])
        faces = {f.file_id: [] for f in cat.faces.all()}
        for face in cat.faces.all():
            faces[face.file_id].append(face.id)
        found = cat.faces.frames_of(faces[photo] + faces[video])
        assert set(found) == set(faces[video])                      # photos' faces have no frame
        assert [found[f] for f in faces[video]] == [VideoFrame(30, 1000.0), VideoFrame(30, 1000.0),
                                                    VideoFrame(95, 3166.7)]
        assert cat.faces.ids_by_index(video) == dict(enumerate(faces[video]))
        # the video embedded again: one face left, in frame 95; frame 30 is no longer anybody's
        model = cat.embedding_model()
        cat.faces.replace_unassigned(video, [NewFace(np.array([0, 0, 50, 50], np.float32), None, 0.9, 50.0, 9.0,
                                                     unit(0, 1))], model_id=model.id, input_mode="photos", run_id=2)
        cat.faces.set_frames(video, {0: VideoFrame(95, 3166.7)})
        (face_id,) = cat.faces.ids_by_index(video).values()
        assert cat.faces.frames_of([face_id]) == {face_id: VideoFrame(95, 3166.7)}
        raw = sqlite3.connect(cat.path)
        assert raw.execute("SELECT frame_index FROM frames WHERE file_id = ?", (video,)).fetchall() == [(95,)]
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        raw.close()


def test_cannot_link_keys_on_the_frame_for_video_faces(tmp_path):
    with new_catalog(tmp_path) as cat:
        photo = add_photo(cat, "/p/a.jpg", [unit(1), unit(1, 0.01)])
        video = _video(cat, "/p/v.mp4", [VideoFrame(0, 0.0), VideoFrame(0, 0.0), VideoFrame(30, 1000.0)])
        data = cat.faces.cluster_input()
        keys = data.files.tolist()
        assert keys[:2] == [photo, photo]                           # one photo: one key
        assert keys[2] == keys[3] and keys[3] != keys[4]            # one frame: one key; other frames: others
        assert all(k < 0 for k in keys[2:]) and video not in keys[2:]
        alice = cat.people.create(name="Alice")
        cat.people.assign([data.ids[2]], alice, AssignedBy.CLUSTER)
        assert cat.faces.person_in_photo(keys[2], alice)            # the frame already shows Alice
        assert not cat.faces.person_in_photo(keys[4], alice)        # another frame of the video does not
        assert not cat.faces.person_in_photo(photo, alice)


def test_person_regions_are_the_named_faces_of_embedded_photos(tmp_path):
    with new_catalog(tmp_path) as cat:
        a = add_photo(cat, "/p/a.jpg", [unit(1), unit(0, 1), unit(0, 0, 1)])
        video = _video(cat, "/p/v.mp4", [VideoFrame(0, 0.0)])
        faces = [f.id for f in cat.faces.all()]
        alice, unnamed = cat.people.create(name="Alice"), cat.people.create()
        cat.people.assign([faces[0], faces[3]], alice, AssignedBy.USER)
        cat.people.assign([faces[1]], unnamed, AssignedBy.CLUSTER)
        named = cat.faces.person_regions()
        assert [(r.file_id, r.person_id, r.name, r.label) for r in named] == [(a, alice, "Alice", "Alice")]
        assert named[0].box == (10.0, 10.0, 90.0, 90.0) and (named[0].width, named[0].height) == (400, 100)
        every = cat.faces.person_regions(include_unnamed=True)
        assert [r.label for r in every] == ["Alice", f"person_{unnamed:03d}"]   # not the video's, not unassigned
        assert video not in {r.file_id for r in every}
