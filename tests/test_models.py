"""Pack discovery, download over loopback HTTP with checksum, and the offline message."""
from __future__ import annotations

import functools
import http.server
import threading
import zipfile

import pytest

from facesets.engines import EngineOptions, EngineUnavailable, load_engine
from facesets.engines.packs import ensure_pack, sha256_file
from facesets.testing import build_test_pack

from conftest import notices_of_facesets, run_cli


@pytest.fixture()
def pack_server(tmp_path):
    """A loopback HTTP server holding buffalo_s.zip (real det_500m + random recogniser)."""
    built = build_test_pack(tmp_path / "build", "buffalo_s")
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "buffalo_s.zip", "w") as zf:
        for f in built.iterdir():
            zf.write(f, f.name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", built
    server.shutdown()


def test_download_verifies_checksums(tmp_path, monkeypatch, pack_server):
    url, built = pack_server
    monkeypatch.setenv("FACESETS_MODEL_URL", url)
    # the random recogniser does not match the official w600k_mbf hash: refused, nothing installed
    with pytest.raises(EngineUnavailable, match="checksum mismatch for w600k_mbf.onnx"):
        ensure_pack("buffalo_s", tmp_path / "models")
    assert not (tmp_path / "models" / "buffalo_s" / "w600k_mbf.onnx").exists()
    # with the hashes of what is served, the pack installs and the real det_500m hash is checked too
    expected = {f.name: sha256_file(f) for f in built.iterdir()}
    assert expected["det_500m.onnx"] == "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a"
    folder = ensure_pack("buffalo_s", tmp_path / "models", expected=expected)
    assert sorted(p.name for p in folder.iterdir()) == ["det_500m.onnx", "w600k_mbf.onnx"]


def test_offline_error_names_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESETS_MODEL_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(EngineUnavailable) as info:
        load_engine(EngineOptions(engine="insightface", models=str(tmp_path / "m")))
    message = str(info.value)
    assert "det_10g.onnx" in message and "w600k_r50.onnx" in message and str(tmp_path / "m") in message
    assert "\n" not in message


def test_auto_engine_picks_by_weights(tmp_path, test_models, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with notices_of_facesets() as notes:
        assert load_engine(EngineOptions(engine="auto", models=str(tmp_path / "none"))).engine == "dlib"
    assert notes and "dlib" in notes[0]
    assert load_engine(EngineOptions(engine="auto", models=str(test_models))).engine == "insightface"


def test_models_command_lists_packs(test_models):
    text = run_cli("models", "--models", test_models).stdout
    assert "buffalo_l" in text and "ready" in text and "non-commercial" in text
