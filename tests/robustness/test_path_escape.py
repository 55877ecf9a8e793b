"""Issue 8: no output path can escape OUT (person names, EXIF and file names, Unicode tricks),
and every archive the tool reads is checked against zip-slip."""
from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest

from facesets.outputs import inside, safe_component, stable_name

HOSTILE_NAMES = [
    "../../etc/passwd", "..", ".", "...", "/etc/cron.d/x", "a/../../b", "..\\..\\windows\\system32",
    "\u202egpj.exe", "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fevil", "\u2024\u2024/\u2024\u2024/x", "nul\x00byte",
    "new\nline", "CON", "~", "~root/.ssh", "$HOME", "-rf", "", "   ", "名前", "Ünïcödé Nämé", "a" * 500,
    "\u0000", "C:\\evil", "//server/share", "faceset_001/../../x", ".hidden", "e\u0301\u0301\u0301",
    "\u200b\u200b", "x\u2215y", "x\u2044y", "x\ufe68y", "\udcff\udcfe",
]
SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_becomes_one_safe_component(tmp_path, name):
    component = safe_component(name)
    assert SAFE.match(component), component
    assert component not in (".", "..") and not component.startswith(".") and len(component) <= 80
    target = inside(tmp_path, component)
    assert target.parent == tmp_path.resolve()


@pytest.mark.parametrize("name", HOSTILE_NAMES[:12])
def test_stable_names_of_hostile_source_paths_stay_flat(name):
    flat = stable_name(f"/photos/{name}/{name}.jpg", "ab" * 32)
    assert "/" not in flat and "\\" not in flat and "\x00" not in flat and not flat.startswith(".")
    assert SAFE.match(flat)


def test_inside_refuses_escapes_and_symlinks_out(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")
    for bad in ("../x", "/etc/passwd", "a/../../x", "link/x"):
        with pytest.raises(ValueError):
            inside(root, bad)
    assert inside(root, "a/b.png") == root.resolve() / "a" / "b.png"


def _zip(members: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer


def test_model_pack_archives_cannot_write_outside_their_folder(tmp_path):
    """The only archive facesets reads: an InsightFace pack zip (downloaded)."""
    from facesets.engines.packs import get_pack, _install_archive

    archive = tmp_path / "pack.zip"
    archive.write_bytes(_zip({
        "../../escaped.onnx": b"a", "/tmp/absolute_escape.onnx": b"b", "buffalo_s/../../../up.onnx": b"c",
        "buffalo_s/w600k_mbf.onnx": b"recogniser", "..\\..\\backslash.onnx": b"d", "buffalo_s/notes.txt": b"e",
    }).getvalue())
    root = tmp_path / "deep" / "models"
    target = root / "buffalo_s"
    root.mkdir(parents=True)
    before = {p for p in tmp_path.rglob("*")}
    _install_archive(archive, target, get_pack("buffalo_s"), expected={})
    created = {p for p in tmp_path.rglob("*")} - before
    assert created, "nothing was installed"
    for path in created:
        assert path.resolve().is_relative_to(root.resolve()), f"escaped: {path}"
    assert (target / "w600k_mbf.onnx").read_bytes() == b"recogniser"
    assert not Path("/tmp/absolute_escape.onnx").exists()
    assert not (target / "notes.txt").exists()
