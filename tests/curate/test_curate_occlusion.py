"""occlusion: the real loading code on ONNX Runtime with a tiny random-weight CLIP in the layout
of Immich's exports; scores are a softmax of logit-scaled similarities; quarantine and undo."""
from __future__ import annotations

import json

import numpy as np
import pytest

from curatehelp import _library, catalog_dump, library, tiny_clip, tree_hashes  # noqa: F401
from conftest import run_cli

from facesets.catalog import Catalog
from facesets.curate.occlusion import probabilities

def test_logit_scale_sharpens_softmax():
    image = np.array([[1.0, 0.0]])
    text = np.array([[0.30, 0.95], [0.25, 0.97]])
    flat, sharp = probabilities(image, text, 1.0), probabilities(image, text, 100.0)
    assert np.allclose(flat.sum(axis=1), 1) and np.allclose(sharp.sum(axis=1), 1)
    assert flat.max() < 0.52 < 0.99 < sharp.max()


@pytest.mark.slow
def test_occlusion_quarantines_and_undo_restores(library, tiny_clip):
    tree_before, catalog_before = tree_hashes(library.out), catalog_dump(library.catalog)
    plan = library.plan("occlusion", *tiny_clip, "--threshold", "0.0", "--quiet")
    assert plan["summary"]["crops"] == sum(1 for _ in library.out.glob("faceset_*/*.png"))
    assert plan["summary"]["logit_scale"] == 100.0 and plan["summary"]["model"] == "tiny-clip-test"
    scores = [score for group in plan["groups"] for score in group["scores"]]
    assert all(abs(s["clear"] + s["mask"] + s["sunglasses"] - 1) < 1e-3 for s in scores)
    assert len({round(s["mask"], 4) for s in scores}) > 1             # the images were really scored
    quarantined = sorted(a["faceset"] for a in plan["actions"] if a["type"] == "quarantine_faceset")
    assert quarantined == sorted(p.name for p in library.out.glob("faceset_*") if p.is_dir())
    run_cli("occlusion", "apply", "--plan", library.plan_path("occlusion"))
    manifest = json.loads((library.out / "manifest.json").read_text())
    assert sorted(m["faceset"] for m in manifest["masked"]) == quarantined
    assert sorted(p.name for p in (library.out / "_masked").glob("faceset_*") if p.is_dir()) == quarantined
    assert not list(library.out.glob("*.fsz")) and not list(library.out.glob("single/*.png"))
    with Catalog.open(library.catalog) as cat:
        assert {p.status for p in cat.people.all()} == {"masked"}
    run_cli("undo", "--catalog", library.catalog)
    assert tree_hashes(library.out) == tree_before
    assert catalog_dump(library.catalog) == catalog_before


def test_occlusion_without_clip_extra_says_how_to_install(library, tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "tokenizers.py").write_text("raise ImportError('tokenizers hidden for this test')\n")
    proc = run_cli("occlusion", "analyze", "--catalog", library.catalog, "--out", tmp_path / "p.json",
                   check=False, env={"PYTHONPATH": str(shadow)})
    assert proc.returncode == 2
    assert "pip install facesets[clip]" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_occlusion_offline_without_weights_names_the_files_and_where_to_put_them(library, tmp_path):
    import socket

    with socket.socket() as sock:                 # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    models = tmp_path / "models"
    # COLUMNS: Rich wraps what it prints at the console width, and this message holds long paths
    proc = run_cli("occlusion", "analyze", "--catalog", library.catalog, "--out", tmp_path / "p.json", "--quiet",
                   check=False, env={"FACESETS_CLIP_URL": url, "FACESETS_MODELS": str(models), "HOME": str(tmp_path),
                                     "COLUMNS": "2000"})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    target = models / "clip" / "ViT-B-32__laion2b-s34b-b79k"
    assert "visual/model.onnx, textual/model.onnx, textual/tokenizer.json, textual/tokenizer_config.json" in proc.stderr
    assert f"in {target}" in proc.stderr and f"download from {url}/" in proc.stderr
    assert not (tmp_path / "p.json").exists() and not any(p.is_file() for p in tmp_path.glob("models/**/*"))


class _ScriptedClip:
    """A stand-in with CLIP's interface whose image features follow a script: lets the test
    choose which crops look masked, wear sunglasses or are clear."""
    name, logit_scale = "scripted", 100.0
    AXES = {"clear": 0, "mask": 1, "sunglasses": 2}

    def __init__(self, script):
        self.script = list(script)

    def text_features(self, prompts):
        axis = 1 if "mask" in prompts[0] else 2 if "sunglasses" in prompts[0] else 0
        return np.repeat(np.eye(3)[axis][None], len(prompts), axis=0)

    def image_features(self, images):
        rows = [np.eye(3)[self.AXES[self.script.pop(0)]] * 0.9 + 0.1 for _ in images]
        return np.stack([r / np.linalg.norm(r) for r in rows])


def test_occlusion_rules_image_threshold_and_faceset_share(library):
    from facesets.curate.occlusion import analyze
    from facesets.curate.tree import load_facesets

    with Catalog.open(library.catalog) as cat:
        facesets = load_facesets(library.out, cat)
        first, second = facesets[0], facesets[1]
        n1 = len(first.crops)
        masked = int(np.ceil(0.4 * n1))             # exactly the 40% share: quarantined
        script = ["mask"] * masked + ["clear"] * (n1 - masked)
        script += ["sunglasses"] + ["clear"] * (len(second.crops) - 1)   # one crop: the faceset stays
        for other in facesets[2:]:
            script += ["clear"] * len(other.crops)
        proposal = analyze(cat, library.out, _ScriptedClip(script), drop_occluded=True)
    quarantined = [a for a in proposal.actions if a["type"] == "quarantine_faceset"]
    assert [a["faceset"] for a in quarantined] == [first.label]
    assert {"type": "set_status", "person": first.person_id, "status": "masked"} in proposal.actions
    drops = [a for a in proposal.actions if a["type"] == "drop_crop"]
    assert [(a["faceset"], a["file"], a["reason"]) for a in drops] == [(second.label, second.crops[0].file,
                                                                          "occluded: sunglasses")]
    group = next(g for g in proposal.groups if g["faceset"] == first.label)
    assert group["occluded_ratio"] == round(masked / n1, 4) and group["quarantine"]
