"""CLIP on ONNX Runtime: preprocessing against an independent computation of CLIP's recipe on
shared photos, tokenization, fixed- and free-batch exports, and how the model files are found,
downloaded (from a loopback server) and checked."""
from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from PIL import Image

from conftest import FACES, PHOTOS
from tinyclip import EOT, SOT, build_tiny_clip, serve

from facesets.curate import clip_files
from facesets.curate.clip import ClipUnavailable, load_clip, preprocess
from facesets.curate.clip_files import DEFAULT_MODEL, FILES, RECORD, SOURCES, ClipSource

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PORTRAIT = FACES / "five_celebrity" / "train" / "ben_afflek" / "httpcsvkmeuaeccjpg.jpg"


def clip_reference(image: Image.Image) -> np.ndarray:
    """CLIP's recipe written out again: shortest side to 224 (bicubic), long side scaled and
    floored; centre crop, offsets rounded half to even (torchvision rounds with Python's round);
    [0, 1] then per-channel mean/std; channels first."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    shape = (224, 224 * height // width) if width <= height else (224 * width // height, 224)
    pixels = np.asarray(rgb.resize(shape, Image.Resampling.BICUBIC), dtype=np.float64) / 255.0
    top, left = int(np.round((shape[1] - 224) / 2)), int(np.round((shape[0] - 224) / 2))
    crop = pixels[top:top + 224, left:left + 224]
    return ((crop - np.array(CLIP_MEAN)) / np.array(CLIP_STD)).transpose(2, 0, 1)


@pytest.mark.parametrize("path, resized, offset", [
    (PHOTOS / "t1.jpg", (323, 224), (50, 0)),                       # 1280x886: crop from x 49.5, rounded to 50
    (PORTRAIT, (224, 331), (0, 54)),                                 # 115x170 upscaled: y 53.5 rounded to 54
    (PHOTOS / "Tom_Hanks_54745.png", (224, 224), (0, 0)),            # 112x112: upscaled, nothing cropped
    (FACES / "lfw158" / "Tony_Blair" / "Tony_Blair_0001.jpg", (224, 224), (0, 0)),
])
def test_preprocess_is_clips_recipe(path, resized, offset):
    with Image.open(path) as image:
        ours, reference = preprocess(image), clip_reference(image)
        expected = np.asarray(image.convert("RGB").resize(resized, Image.Resampling.BICUBIC), dtype=np.float64) / 255
    assert ours.dtype == np.float32 and ours.shape == (3, 224, 224)
    assert np.abs(ours - reference).max() < 1e-5
    x, y = offset
    corner = (expected[y, x] - CLIP_MEAN) / CLIP_STD        # the crop's top-left pixel, by hand
    assert np.allclose(ours[:, 0, 0], corner, atol=1e-5)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A models folder with the tiny CLIP twice: as Immich exports now (one item per call) and
    as it exported before (any batch, outputs image_embedding / text_embedding)."""
    root = tmp_path_factory.mktemp("clipmodels")
    build_tiny_clip(root / "clip" / "tiny-fixed")
    build_tiny_clip(root / "clip" / "tiny-free", batch=None, outputs=("image_embedding", "text_embedding"))
    return root


def test_tokens_are_padded_with_end_of_text_to_the_context_length(models):
    clip = load_clip("tiny-fixed", models, "cpu")
    sot, eot = clip.tokenizer.token_to_id(SOT), clip.tokenizer.token_to_id(EOT)
    short, spaced, long = clip.tokenize(["a photo of a face", "a  photo\tof a   face", " ".join(["mask"] * 200)])
    assert clip.context_length == 77 and short.dtype == np.int32 and len(short) == 77
    assert short[0] == sot and list(short[6:]) == [eot] * 71 and eot not in short[1:6]   # 5 words
    assert list(spaced) == list(short)
    assert long[0] == sot and long[76] == eot and eot not in long[1:76]                # truncated, end kept


def test_fixed_and_free_batch_exports_give_the_same_features(models):
    fixed, free = load_clip("tiny-fixed", models, "cpu"), load_clip("tiny-free", models, "cpu")
    paths = sorted((FACES / "lfw158" / "Serena_Williams").glob("*.jpg"))[:3] + [PHOTOS / "t1.jpg"]
    images = [Image.open(p) for p in paths]
    one_by_one = np.concatenate([free.image_features([image]) for image in images])
    for features in (fixed.image_features(images), free.image_features(images)):
        assert features.shape == (4, 16) and np.allclose(np.linalg.norm(features, axis=1), 1, atol=1e-5)
        assert np.allclose(features, one_by_one, atol=1e-5)
    prompts = ["a photo of a face", "a photo of a person wearing sunglasses", "a portrait"]
    assert np.allclose(fixed.text_features(prompts), free.text_features(prompts), atol=1e-5)
    assert np.abs(one_by_one[0] - one_by_one[3]).max() > 1e-3          # different photos, different features


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def published(tmp_path, name=DEFAULT_MODEL):
    """A folder laid out as Hugging Face serves a repository at the model's pinned revision."""
    site = tmp_path / "site"
    build_tiny_clip(site / name / "resolve" / SOURCES[name].revision)
    return site, site / name / "resolve" / SOURCES[name].revision


def test_download_records_hashes_and_every_later_load_checks_them(tmp_path, monkeypatch):
    site, served = published(tmp_path)
    models = tmp_path / "models"
    monkeypatch.setenv("FACESETS_MODELS", str(tmp_path / "elsewhere"))
    with serve(site) as url:
        monkeypatch.setenv("FACESETS_CLIP_URL", url)
        clip = load_clip("ViT-B-32__laion2b_s34b_b79k", models, "cpu", show_progress=False)  # open_clip's spelling
    folder = models / "clip" / DEFAULT_MODEL
    assert clip.name == DEFAULT_MODEL and clip.folder == folder
    assert all((folder / rel).read_bytes() == (served / rel).read_bytes() for rel in FILES)
    record = json.loads((folder / RECORD).read_text())
    assert record["sha256"] == {rel: clip_files.sha256_file(served / rel) for rel in FILES}
    assert record["source"].endswith(f"/{DEFAULT_MODEL}/resolve/{SOURCES[DEFAULT_MODEL].revision}")
    assert not [p.name for p in (models / "clip").iterdir() if p.name.startswith(".")]   # no staging left

    monkeypatch.setenv("FACESETS_CLIP_URL", closed_port_url())      # found locally: nothing fetched
    assert load_clip(DEFAULT_MODEL, models, "cpu").text_features(["a face"]).shape == (1, 16)
    with open(folder / "textual" / "tokenizer.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(ClipUnavailable, match=r"checksum mismatch for textual/tokenizer.json in .*sha256.json"):
        load_clip(DEFAULT_MODEL, models, "cpu")


def test_pinned_hashes_are_checked_before_files_are_installed(tmp_path, monkeypatch):
    site, served = published(tmp_path)
    revision = SOURCES[DEFAULT_MODEL].revision
    good = {rel: clip_files.sha256_file(served / rel) for rel in FILES}
    with serve(site) as url:
        monkeypatch.setitem(SOURCES, DEFAULT_MODEL, ClipSource(revision, {**good, "visual/model.onnx": "0" * 64}))
        with pytest.raises(ClipUnavailable, match="checksum mismatch for visual/model.onnx downloaded from .*; not installed"):
            clip_files.ensure_model(DEFAULT_MODEL, tmp_path / "models", base_url=url, show_progress=False)
        assert not any(p.is_file() for p in (tmp_path / "models").rglob("*"))
        monkeypatch.setitem(SOURCES, DEFAULT_MODEL, ClipSource(revision, good))
        folder = clip_files.ensure_model(DEFAULT_MODEL, tmp_path / "models", base_url=url, show_progress=False)
    (folder / RECORD).unlink()                    # pinned hashes need no record: still checked
    with open(folder / "visual" / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ClipUnavailable, match="checksum mismatch for visual/model.onnx .*the published sha256"):
        clip_files.ensure_model(DEFAULT_MODEL, tmp_path / "models", download=False)


def test_a_broken_download_installs_nothing(tmp_path):
    site, served = published(tmp_path)
    (served / "textual" / "tokenizer_config.json").unlink()          # the server answers 404 for it
    with serve(site) as url, pytest.raises(ClipUnavailable, match=r"not found: .* download from .* failed: HTTP Error 404"):
        clip_files.ensure_model(DEFAULT_MODEL, tmp_path / "models", base_url=url, show_progress=False)
    assert not any(p.is_file() for p in (tmp_path / "models").rglob("*"))


def test_models_found_through_the_environment_and_unknown_names_explained(models, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESETS_MODELS", str(models))
    monkeypatch.setenv("FACESETS_CLIP_URL", closed_port_url())
    assert clip_files.ensure_model("tiny-fixed", tmp_path / "empty") == models / "clip" / "tiny-fixed"
    with pytest.raises(ClipUnavailable) as caught:
        clip_files.ensure_model("ViT-L-14__dfn2b_s39b", tmp_path / "empty")
    message = str(caught.value)
    assert str(tmp_path / "empty" / "clip" / "ViT-L-14__dfn2b_s39b") in message and "\n" not in message
    assert all(rel in message for rel in FILES) and "downloadable: " + ", ".join(SOURCES) in message
