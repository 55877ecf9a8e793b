"""The public library API: the README's example runs as written and gives the same people as
`facesets run` on the same photos; the image-level calls agree with the catalog."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import facesets
from conftest import FACES, run_cli

IDENTITIES = ["Colin_Powell", "Tony_Blair", "Gerhard_Schroeder"]
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## As a library", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _people_of(db: Path) -> dict[tuple[str, int], int | None]:
    """(photo name, face index) -> person number."""
    with facesets.open(db, create=False) as lib:
        return {(Path(f.path).name, f.face_index): f.person_id for f in lib.faces()}


@pytest.fixture
def photos(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))    # no InsightFace weights: auto is dlib
    monkeypatch.delenv("FACESETS_MODELS", raising=False)
    root = tmp_path / "photos"
    root.mkdir()
    for name in IDENTITIES:
        for photo in sorted((FACES / "lfw158" / name).glob("*.jpg"))[:8]:
            shutil.copy2(photo, root / photo.name)
    return root


def test_readme_example_gives_the_people_of_facesets_run(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_example(), "README.md", "exec"), {})
    printed = capsys.readouterr().out.split("\n")
    run_cli("run", photos, tmp_path / "cli_out", "-q")
    mine, theirs = _people_of(tmp_path / "out" / "library.db"), _people_of(tmp_path / "cli_out" / "library.db")
    assert mine == theirs
    assert len({p for p in mine.values() if p is not None}) >= len(IDENTITIES)
    assert sorted(p.name for p in (tmp_path / "out" / "facesets").glob("*.fsz")) == \
        sorted(p.name for p in (tmp_path / "cli_out" / "facesets").glob("*.fsz"))
    with facesets.open(tmp_path / "out" / "library.db", create=False) as lib:
        assert [f"{p.label} {p.n_faces}" for p in lib.people()] == [line for line in printed if line]


def test_image_calls_agree_with_the_catalog(photos, tmp_path):
    engine = facesets.load_engine("dlib")
    with facesets.open(tmp_path / "lib.db") as lib:
        lib.embed([photos], engine=engine)
        stored = {(Path(f.path).name, f.face_index): f for f in lib.faces()}
    for photo in sorted(photos.iterdir())[:4]:
        for index, face in enumerate(facesets.faces_in(photo, engine)):
            known = stored[(photo.name, index)]
            assert np.allclose(face.box, known.box, atol=0.01)
            assert facesets.distance(face, known) < 1e-5
    a, b = (stored[k].embedding for k in sorted(stored)[:2])
    assert facesets.distance(a, b) == pytest.approx(1 - float(a @ b), abs=1e-6)
    assert facesets.distance(a, np.stack([a, b])) == pytest.approx([0.0, 1 - float(a @ b)], abs=1e-6)


def test_faces_of_a_person_by_number_name_or_label(photos, tmp_path):
    with facesets.open(tmp_path / "lib.db") as lib:
        lib.embed([photos], engine="dlib")
        lib.cluster()
        person = max(lib.people(), key=lambda p: p.n_faces)
        lib.catalog.people.rename(person.id, "Someone")
        by_number, by_name = lib.faces(person.id), lib.faces("Someone")
        assert [f.id for f in by_number] == [f.id for f in by_name] and len(by_number) == person.n_faces
        assert all(f.person_id == person.id for f in by_number)
        with pytest.raises(KeyError):
            lib.faces("nobody at all")
