"""Small stand-in models for tests and benchmarks, built on the fly with random weights.

The real InsightFace recognisers cannot be fetched on our machines; these have the same
input and output signature, so the real loading, routing and batching code runs on them.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from facesets.config import shared_dir


def build_random_recogniser(path: str | Path, size: int = 112, dim: int = 512, seed: int = 0,
                            self_normalising: bool = False) -> Path:
    """An ArcFace-shaped ONNX (N x 3 x size x size -> N x dim) with random weights.
    `self_normalising`: the graph begins with named Sub and Mul nodes, as MXNet exports do,
    which tells a loader to feed raw pixel values."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    channels, stride = 16, 8
    cells = channels * (size // stride) ** 2
    conv_w = rng.normal(0, 0.05, (channels, 3, stride, stride)).astype(np.float32)
    fc_w = rng.normal(0, 1 / np.sqrt(cells), (cells, dim)).astype(np.float32)
    inits = [numpy_helper.from_array(conv_w, "conv_w"), numpy_helper.from_array(fc_w, "fc_w")]
    nodes, first = _normalising_nodes("input.1", inits) if self_normalising else ([], "input.1")
    nodes += [
        helper.make_node("Conv", [first, "conv_w"], ["c1"], strides=[stride, stride], kernel_shape=[stride, stride]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Flatten", ["r1"], ["f1"], axis=1),
        helper.make_node("MatMul", ["f1", "fc_w"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes, "random_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, size, size])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", dim])],
        inits,
    )
    return _save_model(graph, path)


def build_random_landmarker(path: str | Path, points: int = 106, dims: int = 2, seed: int = 0,
                            self_normalising: bool = False) -> Path:
    """A landmark model shaped like 2d106det (1 x 3 x 192 x 192 -> 1 x 212) or, with
    `dims=3`, 1k3d68 (-> 1 x 3309, the last 204 values 68 points with depth): outputs near a
    fixed face-like layout that move a little with the pixels. `self_normalising`: the
    graph begins with a node named `bn_data`, as the real MXNet exports do."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    outputs = 3309 if dims == 3 else points * dims
    channels, stride, size = 8, 16, 192
    cells = channels * (size // stride) ** 2
    layout = np.zeros(outputs, np.float32)
    if dims == 3:  # the mean face, so a head pose can be solved from the points
        from facesets.enrich.pose import mean_shape_68
        layout[-68 * 3:] = (mean_shape_68() * 0.8).astype(np.float32).ravel()
    else:
        layout[:] = rng.uniform(-0.6, 0.6, outputs).astype(np.float32)
    inits = [numpy_helper.from_array(rng.normal(0, 0.05, (channels, 3, stride, stride)).astype(np.float32), "conv_w"),
             numpy_helper.from_array(rng.normal(0, 0.1 / np.sqrt(cells), (cells, outputs)).astype(np.float32), "fc_w"),
             numpy_helper.from_array(layout, "layout")]
    nodes, first = _normalising_nodes("data", inits, "bn_data") if self_normalising else ([], "data")
    nodes += [
        helper.make_node("Conv", [first, "conv_w"], ["c1"], strides=[stride, stride], kernel_shape=[stride, stride]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Flatten", ["r1"], ["f1"], axis=1),
        helper.make_node("MatMul", ["f1", "fc_w"], ["m1"]),
        helper.make_node("Add", ["m1", "layout"], ["fc1"]),
    ]
    graph = helper.make_graph(
        nodes, "random_landmarks",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, outputs])],
        inits,
    )
    return _save_model(graph, path)


def _normalising_nodes(source: str, inits: list, name: str | None = None) -> tuple[list, str]:
    """(nodes, output): (x - 127.5) * (1 / 128) in the graph, the nodes named as MXNet names
    them (`_minus0`, `_mul0`) or the first one `name`."""
    from onnx import helper, numpy_helper

    inits += [numpy_helper.from_array(np.array(127.5, np.float32), "pixel_mean"),
              numpy_helper.from_array(np.array(1 / 128, np.float32), "pixel_scale")]
    return [helper.make_node("Sub", [source, "pixel_mean"], ["centred"], name=name or "_minus0"),
            helper.make_node("Mul", ["centred", "pixel_scale"], ["normalised"], name="_mul0")], "normalised"


def build_iresnet50_recogniser(path: str | Path, size: int = 112, dim: int = 512, seed: int = 0,
                               layers: tuple[int, ...] = (3, 4, 14, 3)) -> Path:
    """A random-weight IResNet-50 (the w600k_r50 architecture, batch norms folded into the
    convolutions): the same FLOPs (~6.3 GMAC per face) and signature as the real recogniser,
    so benchmarks measure the real cost of recognition."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    counter = [0]

    def name(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def conv(x, cin, cout, k, stride, gain=1.0):
        w, b, y = name("w"), name("b"), name("conv")
        std = gain * np.sqrt(2.0 / (cin * k * k))
        inits.append(numpy_helper.from_array(rng.normal(0, std, (cout, cin, k, k)).astype(np.float32), w))
        inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), b))
        nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4))
        return y

    def prelu(x, channels):
        slope, y = name("slope"), name("prelu")
        inits.append(numpy_helper.from_array(np.full((channels, 1, 1), 0.25, np.float32), slope))
        nodes.append(helper.make_node("PRelu", [x, slope], [y]))
        return y

    x = prelu(conv("input.1", 3, 64, 3, 1), 64)
    cin = 64
    for stage, (blocks, cout) in enumerate(zip(layers, (64, 128, 256, 512))):
        for block in range(blocks):
            stride = 2 if block == 0 else 1
            y = prelu(conv(x, cin, cout, 3, 1), cout)
            y = conv(y, cout, cout, 3, stride, gain=0.2)  # small residual branch keeps activations bounded
            shortcut = conv(x, cin, cout, 1, stride) if (stride != 1 or cin != cout) else x
            out = name("add")
            nodes.append(helper.make_node("Add", [y, shortcut], [out]))
            x, cin = out, cout
    cells = cin * (size // 16) ** 2
    flat, fc_w, fc_b = name("flat"), name("fc_w"), name("fc_b")
    nodes.append(helper.make_node("Flatten", [x], [flat], axis=1))
    inits.append(numpy_helper.from_array(rng.normal(0, 1 / np.sqrt(cells), (cells, dim)).astype(np.float32), fc_w))
    inits.append(numpy_helper.from_array(np.zeros(dim, np.float32), fc_b))
    mm = name("mm")
    nodes.append(helper.make_node("MatMul", [flat, fc_w], [mm]))
    nodes.append(helper.make_node("Add", [mm, fc_b], ["683"]))
    graph = helper.make_graph(
        nodes, "random_iresnet50",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, size, size])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", dim])],
        inits,
    )
    return _save_model(graph, path)


RECOGNISERS = {"tiny": build_random_recogniser, "r50": build_iresnet50_recogniser}


def build_test_pack(models_dir: str | Path, pack: str = "buffalo_l", seed: int = 0,
                    recogniser: str = "tiny") -> Path:
    """A pack folder with the shared real SCRFD detector and a random recogniser
    ('tiny' for tests, 'r50' for benchmarks), under the file names the pack expects."""
    from facesets.engines.packs import get_pack

    spec = get_pack(pack)
    folder = Path(models_dir) / pack
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_dir() / "models" / "insightface" / "det_500m.onnx", folder / spec.detector)
    RECOGNISERS[recogniser](folder / spec.recogniser, seed=seed)
    return folder


def _save_model(graph, path) -> Path:
    """An opset-13 ONNX model of `graph` written to `path`."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# -- videos for tests and benchmarks ------------------------------------------------------------

def lfw_face(name: str, number: int, side: int = 360) -> np.ndarray:
    """The centre of an lfw158 photo (its main face, no bystander) as a BGR square."""
    import cv2

    photo = sorted((shared_dir() / "data" / "faces" / "lfw158" / name).iterdir())[number]
    return cv2.resize(cv2.imread(str(photo))[45:205, 45:205], (side, side), interpolation=cv2.INTER_CUBIC)


def write_video(path: str | Path, shots: list[tuple[np.ndarray, float]], size: tuple[int, int] = (640, 480),
                fps: float = 20.0, rotation: int = 0, drift: float = 0.25) -> list[tuple[float, float]]:
    """An MPEG-4 video of `shots` (a BGR picture, seconds) in turn, each drifting `drift` pixels a
    frame on a background of its own, as OpenCV writes it; returns each shot's (start, end) in seconds.
    `rotation` (90, 180, 270): stored turned the other way with that rotation tag, as a phone
    held sideways records, so a player shows the same upright `size` frames."""
    import cv2

    width, height = size
    unturn = {0: None, 90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}[rotation]
    stored = (height, width) if rotation in (90, 270) else size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, stored)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MPEG-4 here")
    times, frame_no = [], 0
    for n, (picture, seconds) in enumerate(shots):
        ph, pw = picture.shape[:2]
        background = np.full((height, width, 3), ((70 * n) % 256, (40 + 90 * n) % 256, 150), np.uint8)
        count = max(1, round(seconds * fps))
        times.append((frame_no / fps, (frame_no + count) / fps))
        for i in range(count):
            frame = background.copy()
            x = min((width - pw) // 2 + int(i * drift), width - pw)
            y = (height - ph) // 2
            frame[y:y + ph, x:x + pw] = picture
            writer.write(frame if unturn is None else cv2.rotate(frame, unturn))
        frame_no += count
    writer.release()
    if rotation:
        set_mp4_rotation(path, rotation)
    return times


def set_mp4_rotation(path: str | Path, degrees: int) -> None:
    """Give an MP4 the display matrix of a phone held sideways (rotation 90, 180 or 270), as
    cameras write it: the pixels stay as stored, players turn them."""
    import struct

    one, minus = 0x00010000, 0xFFFF0000
    a, b, c, d = {0: (one, 0, 0, one), 90: (0, one, minus, 0), 180: (minus, 0, 0, minus),
                  270: (0, minus, one, 0)}[degrees]
    data = bytearray(Path(path).read_bytes())
    at = data.find(b"tkhd")
    while at >= 0:
        version = data[at + 4]
        matrix = at + 8 + (32 if version == 1 else 20) + 8 + 8   # times, track id, duration; reserved, layer..volume
        struct.pack_into(">9I", data, matrix, a, b, 0, c, d, 0, 0, 0, 0x40000000)
        at = data.find(b"tkhd", at + 4)
    Path(path).write_bytes(bytes(data))
