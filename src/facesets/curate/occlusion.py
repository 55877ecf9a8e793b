"""`facesets occlusion`: zero-shot CLIP scoring of masks and sunglasses on exported crops.

CLIP runs on ONNX Runtime (facesets.curate.clip). Each class is a prompt ensemble (text features
averaged, then renormalised). Image–text cosine similarities are multiplied by the model's logit
scale (100) before the softmax — raw cosines differ by a few hundredths and a softmax over them
is nearly uniform. A crop is occluded when the mask or the sunglasses probability reaches the
image threshold; a faceset where at least `faceset_ratio` of the crops are occluded is
quarantined to `_masked/` (people.status 'masked').
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from facesets.catalog import Catalog, PersonStatus
from facesets.curate.actions import ActionType, register
from facesets.curate.clip import ClipModel
from facesets.curate.core import Proposal
from facesets.curate.tree import load_facesets, sha256_file

PROMPTS = {
    "clear": ["a photo of a face", "a close-up photo of a person's uncovered face",
              "a portrait of a person with a clearly visible face", "a photo of a face with nothing covering it"],
    "mask": ["a photo of a person wearing a face mask", "a photo of a face covered by a surgical mask",
             "a close-up of a person wearing a medical mask over mouth and nose",
             "a portrait of someone wearing a cloth face covering"],
    "sunglasses": ["a photo of a person wearing sunglasses", "a close-up of a face with dark sunglasses",
                   "a portrait of someone whose eyes are hidden by sunglasses",
                   "a photo of a face wearing shades"],
}
OCCLUSIONS = ("mask", "sunglasses")
IMAGE_THRESHOLD = 0.7
FACESET_RATIO = 0.4


def class_features(clip: ClipModel) -> tuple[list[str], np.ndarray]:
    names = list(PROMPTS)
    rows = [clip.text_features(PROMPTS[n]).mean(axis=0) for n in names]
    matrix = np.stack(rows)
    return names, matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def probabilities(image_features: np.ndarray, text_features: np.ndarray, logit_scale: float) -> np.ndarray:
    """Softmax over classes of logit_scale × cosine similarity."""
    logits = logit_scale * (image_features @ text_features.T)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def analyze(catalog: Catalog, root, clip: ClipModel, *, threshold: float = IMAGE_THRESHOLD,
            faceset_ratio: float = FACESET_RATIO, drop_occluded: bool = False, batch: int = 32,
            progress=None) -> Proposal:
    """Score every crop exported under `root` with `clip`; plan to quarantine to `_masked/` each
    faceset where at least `faceset_ratio` (0.4, a share of its crops) are occluded, a crop being
    occluded when its mask or sunglasses probability is at least `threshold` (0.7); with
    `drop_occluded` (off) also drop the occluded crops of the facesets that stay. `batch`: crops
    per model call (32); `progress`: a hook(phase, advance, total)."""
    names, text = class_features(clip)
    scale = clip.logit_scale
    facesets = load_facesets(root, catalog)
    total = sum(len(f.crops) for f in facesets)
    groups, actions, scored, quarantined = [], [], 0, 0
    for faceset in facesets:
        rows = []
        for start in range(0, len(faceset.crops), batch):
            crops = faceset.crops[start:start + batch]
            images = []
            for crop in crops:
                with Image.open(faceset.folder / crop.file) as image:
                    images.append(image.convert("RGB"))
            probs = probabilities(clip.image_features(images), text, scale)
            for crop, p in zip(crops, probs):
                score = {n: float(p[i]) for i, n in enumerate(names)}
                occluded = [n for n in OCCLUSIONS if score[n] >= threshold]
                rows.append((crop, score, occluded))
            if progress:
                progress("occlusion", len(crops), total)
        scored += len(rows)
        n_occluded = sum(1 for _, _, o in rows if o)
        ratio = n_occluded / len(rows) if rows else 0.0
        quarantine = bool(rows) and ratio >= faceset_ratio
        if quarantine:
            quarantined += 1
            actions.append({"type": "quarantine_faceset", "faceset": faceset.label, "to": "_masked", "list": "masked",
                            "person_id": faceset.person_id, "reason": f"{ratio:.0%} of crops occluded",
                            "manifest": {"occluded_ratio": round(ratio, 4)}})
            if faceset.person_id is not None:
                actions.append({"type": "set_status", "person": faceset.person_id, "status": str(PersonStatus.MASKED)})
        elif drop_occluded:
            actions += [{"type": "drop_crop", "faceset": faceset.label, "file": c.file, "face_id": c.face_id,
                         "sha256": sha256_file(faceset.folder / c.file), "reason": "occluded: " + ", ".join(o)}
                        for c, _, o in rows if o]
        groups.append({
            "kind": "faceset", "faceset": faceset.label, "occluded_ratio": round(ratio, 4), "quarantine": quarantine,
            "title": f"{faceset.label}: {n_occluded}/{len(rows)} occluded ({ratio:.0%})"
                     + (" → _masked/" if quarantine else ""),
            "scores": [{"file": c.file, "face_id": c.face_id, **{k: round(v, 4) for k, v in s.items()}} for c, s, _ in rows],
            "items": [{"image": str(faceset.folder / c.file), "mark": "drop" if o else "",
                       "caption": " ".join(f"{k} {v:.2f}" for k, v in s.items())} for c, s, o in rows]})
    return Proposal(groups=groups, actions=actions, summary={
        "facesets": len(facesets), "crops": scored, "quarantined": quarantined, "threshold": threshold,
        "faceset_ratio": faceset_ratio, "logit_scale": round(scale, 4), "model": clip.name})


def _set_status(catalog: Catalog, action: dict) -> None:
    catalog.people.set_status(action["person"], PersonStatus(action["status"]))


SET_STATUS = register(ActionType("set_status", touched=lambda a: ({a["person"]}, ()), apply_catalog=_set_status))
