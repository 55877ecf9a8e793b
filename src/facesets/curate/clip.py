"""Loading an open_clip model for zero-shot scoring (optional extra `facesets[clip]`).

The same code loads the real model (weights found locally, or downloaded on first use by
open_clip) and the tiny random-weight model the tests save: a model config JSON registered with
open_clip plus a checkpoint file passed as `pretrained`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"


class ClipUnavailable(RuntimeError):
    """open_clip/torch missing, or the model cannot be loaded (one-line, user-facing)."""


@dataclass
class ClipModel:
    model: object
    preprocess: object
    tokenizer: object
    name: str
    pretrained: str | None
    device: str

    def text_features(self, prompts: list[str]) -> np.ndarray:
        import torch
        with torch.no_grad():
            features = self.model.encode_text(self.tokenizer(prompts).to(self.device)).float()
        return _normalise(features.cpu().numpy())

    def image_features(self, images) -> np.ndarray:
        import torch
        batch = torch.stack([self.preprocess(image) for image in images]).to(self.device)
        with torch.no_grad():
            features = self.model.encode_image(batch).float()
        return _normalise(features.cpu().numpy())

    @property
    def logit_scale(self) -> float:
        """CLIP's learned temperature: similarities are multiplied by exp(logit_scale) before softmax."""
        return float(self.model.logit_scale.exp().item())


def _normalise(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def load_clip(name: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED,
              config: str | Path | None = None, device: str = "cpu") -> ClipModel:
    try:
        import open_clip
        import torch  # noqa: F401
    except ImportError:
        raise ClipUnavailable("occlusion scoring needs open_clip and torch: pip install facesets[clip]") from None
    if config is not None:
        config = Path(config)
        if not config.is_file():
            raise ClipUnavailable(f"no open_clip model config at {config}")
        open_clip.add_model_config(config)
        name = name if name != DEFAULT_MODEL else config.stem
    if pretrained and ("/" in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors"))) \
            and not Path(pretrained).is_file() and not pretrained.startswith("hf-hub:"):
        raise ClipUnavailable(f"no CLIP checkpoint at {pretrained}")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained or None, device=device)
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as exc:  # open_clip raises many kinds; the user needs one line
        raise ClipUnavailable(f"cannot load CLIP model {name} ({pretrained}): {' '.join(str(exc).split())[:200]}") from None
    model.eval()
    return ClipModel(model, preprocess, tokenizer, name, pretrained, device)
