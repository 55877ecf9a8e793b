"""CLIP on ONNX Runtime for zero-shot scoring (optional extra `facesets[clip]`: the tokenizer).

The two towers Immich exports from open_clip: the visual one maps preprocessed images "image"
(N×3×224×224 float) to their embeddings, the textual one maps token ids "text" (N×77 int32) to
theirs. Text is tokenized with the Hugging Face tokenizer.json shipped beside them, padded to the
context length with the pad token of tokenizer_config.json (<|endoftext|>: the towers pool at the
first end-of-text token, so the padding never reaches the result). Newer exports take one item
per call (a fixed batch of 1), older ones any batch: both run. Where the files come from:
facesets.curate.clip_files.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from facesets.curate.clip_files import DEFAULT_MODEL, ClipUnavailable, canonical_name, ensure_model
from facesets.media.decode import one_line

__all__ = ["ClipModel", "ClipUnavailable", "DEFAULT_MODEL", "load_clip", "preprocess"]

# CLIP's published preprocessing (OpenAI CLIP, open_clip's OPENAI_DATASET_MEAN/STD)
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
# exp of the learned temperature; both known models end training at open_clip's clamp, ln(100)
LOGIT_SCALE = 100.0


def preprocess(image: Image.Image, size: int = 224) -> np.ndarray:
    """3×size×size float32: shortest side resized to `size` (bicubic), centre crop, CLIP mean/std.
    Sizes and crop offsets are computed as torchvision's Resize and CenterCrop compute them."""
    image = image.convert("RGB")
    width, height = image.size
    if width <= height:
        new = (size, int(size * height / width))
    else:
        new = (int(size * width / height), size)
    image = image.resize(new, Image.BICUBIC)
    left, top = int(round((new[0] - size) / 2.0)), int(round((new[1] - size) / 2.0))
    pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return ((pixels - MEAN) / STD).transpose(2, 0, 1)


class ClipModel:
    """The visual and textual sessions of one model, its tokenizer and its logit scale."""

    logit_scale = LOGIT_SCALE

    def __init__(self, folder: Path, name: str, providers: list[str]):
        from tokenizers import Tokenizer

        self.name, self.folder = name, folder
        self.visual = _session(folder / "visual" / "model.onnx", providers)
        self.textual = _session(folder / "textual" / "model.onnx", providers)
        self.image_size = _fixed(self.visual.get_inputs()[0].shape, 2, 224)
        text_input = self.textual.get_inputs()[0]
        self.context_length = _fixed(text_input.shape, 1, 77)
        self.token_type = np.int64 if text_input.type == "tensor(int64)" else np.int32
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / "textual" / "tokenizer.json"))
            config = json.loads((folder / "textual" / "tokenizer_config.json").read_text(encoding="utf-8"))
        except Exception as exc:  # tokenizers raises plain Exceptions on a broken file
            raise ClipUnavailable(f"cannot read the tokenizer of {folder}: {one_line(str(exc), 200)}") from None
        pad = config.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        pad_id = self.tokenizer.token_to_id(pad) if isinstance(pad, str) else None
        if pad_id is None:
            raise ClipUnavailable(f"the tokenizer of {folder} has no pad token {pad!r}")
        self.tokenizer.enable_padding(length=self.context_length, pad_token=pad, pad_id=pad_id)
        self.tokenizer.enable_truncation(max_length=self.context_length)

    def tokenize(self, prompts: list[str]) -> np.ndarray:
        """N×context_length token ids; whitespace collapsed first, as Immich does."""
        encodings = self.tokenizer.encode_batch([" ".join(p.split()) for p in prompts])
        return np.array([e.ids for e in encodings], dtype=self.token_type)

    def text_features(self, prompts: list[str]) -> np.ndarray:
        return _normalise(_run(self.textual, self.tokenize(prompts)))

    def image_features(self, images) -> np.ndarray:
        batch = np.stack([preprocess(image, self.image_size) for image in images])
        return _normalise(_run(self.visual, batch))


def load_clip(name: str = DEFAULT_MODEL, models: str | os.PathLike | None = None, device: str = "auto",
              download: bool = True, show_progress: bool = True) -> ClipModel:
    """The model NAME (Immich's ARCH__PRETRAINED) from the models folders, downloaded if absent."""
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        raise ClipUnavailable("occlusion scoring needs the tokenizers package: pip install facesets[clip]") from None
    from facesets.engines.base import EngineUnavailable
    from facesets.engines.providers import choose_providers

    try:
        providers = choose_providers(device)
    except (ValueError, EngineUnavailable) as exc:
        raise ClipUnavailable(str(exc)) from None
    name = canonical_name(name)
    folder = ensure_model(name, models, download=download, show_progress=show_progress)
    return ClipModel(folder, name, providers)


def _session(path: Path, providers: list[str]):
    import onnxruntime as ort

    from facesets.engines.providers import session_options

    try:
        return ort.InferenceSession(str(path), sess_options=session_options(), providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for a broken graph
        raise ClipUnavailable(f"cannot load {path}: {one_line(str(exc), 200)}") from None


def _fixed(shape, axis: int, default: int) -> int:
    """A dimension of an input's shape when the export fixed it, else `default`."""
    value = shape[axis] if len(shape) > axis else None
    return value if isinstance(value, int) and value > 0 else default


def _run(session, batch: np.ndarray) -> np.ndarray:
    """The first output for the whole batch; an export with a fixed batch size runs in chunks of
    that size (the last one padded by repeating its final item, then trimmed)."""
    feed = session.get_inputs()[0]
    step = feed.shape[0] if isinstance(feed.shape[0], int) and feed.shape[0] > 0 else len(batch)
    rows = []
    for start in range(0, len(batch), step):
        chunk = batch[start:start + step]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
        rows.append(session.run(None, {feed.name: padded})[0][:len(chunk)])
    return np.concatenate(rows).astype(np.float32)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)
