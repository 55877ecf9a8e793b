"""A tiny random-weight CLIP in the layout of Immich's ONNX exports, and a loopback server for it.

The towers have the real signature (visual: "image" N×3×224×224 float -> "embedding" N×D;
textual: "text" N×77 int32 -> "embedding" N×D, both L2-normalised as open_clip's encode_*(
normalize=True)); Immich's current exports fix N at 1, its older ones leave it free and name the
outputs image_embedding / text_embedding: `batch` and `outputs` build either. The tokenizer is a
real byte-level BPE tokenizer.json (learnt from the occlusion prompts) with CLIP's special tokens
last, as in CLIP's vocabulary, and a tokenizer_config.json naming <|endoftext|> as pad token.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
from pathlib import Path

import numpy as np

SOT, EOT = "<|startoftext|>", "<|endoftext|>"


def build_tiny_clip(folder: Path, batch: int | None = 1, outputs: tuple[str, str] = ("embedding", "embedding"),
                    dim: int = 16, seed: int = 0) -> Path:
    """visual/model.onnx, textual/model.onnx, textual/tokenizer.json, textual/tokenizer_config.json."""
    rng = np.random.default_rng(seed)
    tokenizer = _tokenizer()
    (folder / "textual").mkdir(parents=True, exist_ok=True)
    (folder / "visual").mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "textual" / "tokenizer.json"))
    (folder / "textual" / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": SOT, "eos_token": EOT, "pad_token": EOT, "unk_token": EOT, "model_max_length": 77}))
    _visual(folder / "visual" / "model.onnx", rng, batch, outputs[0], dim)
    _textual(folder / "textual" / "model.onnx", rng, batch, outputs[1], dim, tokenizer.get_vocab_size())
    return folder


@functools.cache
def _tokenizer():
    """Learnt once per process: BPE training breaks ties in no fixed order, and models built in
    one test must share their token ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    from facesets.curate.occlusion import PROMPTS

    tokenizer = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                                 normalizers.Lowercase()])
    words = Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(words, behavior="removed", invert=True),
                                                       pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=600, end_of_word_suffix="</w>", show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([p for prompts in PROMPTS.values() for p in prompts], trainer)
    tokenizer.add_special_tokens([SOT, EOT])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{SOT} $A {EOT}", special_tokens=[(SOT, tokenizer.token_to_id(SOT)), (EOT, tokenizer.token_to_id(EOT))])
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _visual(path: Path, rng, batch, output: str, dim: int) -> None:
    from onnx import TensorProto, helper, numpy_helper

    conv = rng.normal(0, 0.05, (8, 3, 32, 32)).astype(np.float32)
    project = rng.normal(0, 0.1, (8 * 7 * 7, dim)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["image", "conv"], ["c"], kernel_shape=[32, 32], strides=[32, 32]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"], axis=1),
             helper.make_node("MatMul", ["f", "project"], ["m"]),
             helper.make_node("LpNormalization", ["m"], [output], axis=-1, p=2)]
    n = batch or "batch_size"
    _save(helper.make_graph(nodes, "tiny_clip_visual",
                            [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, 3, 224, 224])],
                            [helper.make_tensor_value_info(output, TensorProto.FLOAT, [n, dim])],
                            [numpy_helper.from_array(conv, "conv"), numpy_helper.from_array(project, "project")]), path)


def _textual(path: Path, rng, batch, output: str, dim: int, vocab: int) -> None:
    from onnx import TensorProto, helper, numpy_helper

    table = rng.normal(0, 1, (vocab, 32)).astype(np.float32)
    project = rng.normal(0, 0.2, (32, dim)).astype(np.float32)
    nodes = [helper.make_node("Cast", ["text"], ["ids"], to=TensorProto.INT64),
             helper.make_node("Gather", ["table", "ids"], ["tokens"], axis=0),
             helper.make_node("ReduceMean", ["tokens"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("MatMul", ["pooled", "project"], ["m"]),
             helper.make_node("LpNormalization", ["m"], [output], axis=-1, p=2)]
    n = batch or "batch_size"
    _save(helper.make_graph(nodes, "tiny_clip_textual",
                            [helper.make_tensor_value_info("text", TensorProto.INT32, [n, 77])],
                            [helper.make_tensor_value_info(output, TensorProto.FLOAT, [n, dim])],
                            [numpy_helper.from_array(table, "table"), numpy_helper.from_array(project, "project")]), path)


def _save(graph, path: Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@contextlib.contextmanager
def serve(root: Path):
    """An HTTP server on 127.0.0.1 serving `root`; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
