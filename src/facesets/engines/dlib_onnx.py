"""dlib's face-recognition ResNet on ONNX Runtime: the same weights, read from the
face_recognition_models file, and the same descriptors, several times faster than dlib-bin's
own CPU path (built without BLAS: ~75 ms a face, most of a dlib embed).

dlib writes a network innermost layer first, each layer as its version string then its fields;
tensors are a varint header and raw little-endian float32. The layers this file holds (dlib's
`dnn_face_recognition_ex.cpp`): con 7x7/2, affine, relu, max_pool 3x3/2, residual blocks (con
3x3, affine, relu, con 3x3, affine; a down block's first con strides 2 and its skip is a 2x2/2
average pool), avg_pool_everything, fc_no_bias 128. dlib adds two tensors of different shapes
as if the smaller were zero-padded at its end (channels, rows, columns): so does this graph.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np

WINDOW = ("rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x")   # a con's or pool's fields, in dlib's order
LAYER = re.compile(rb"(input_rgb_image_sized|con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2)")


class DlibFormatError(RuntimeError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """dlib's integer: a control byte (0x80: negative, low 4 bits: bytes that follow, little endian)."""
    control = data[pos]
    size = control & 0x0F
    value = int.from_bytes(data[pos + 1:pos + 1 + size], "little")
    return (-value if control & 0x80 else value), pos + 1 + size


def _float(data: bytes, pos: int) -> tuple[float, int]:
    """dlib's portable float: mantissa then exponent, both dlib integers."""
    mantissa, pos = _varint(data, pos)
    exponent, pos = _varint(data, pos)
    return float(mantissa) * 2.0 ** exponent, pos


def _varints(data: bytes, pos: int, count: int) -> tuple[list[int], int]:
    values = []
    for _ in range(count):
        value, pos = _varint(data, pos)
        values.append(value)
    return values, pos


def _tensor(data: bytes, pos: int) -> tuple[np.ndarray, int]:
    version, pos = _varint(data, pos)
    if version != 2:
        raise DlibFormatError(f"tensor version {version}, expected 2")
    dims, pos = _varints(data, pos, 4)
    count = int(np.prod(dims))
    return np.frombuffer(data, "<f4", count, pos).astype(np.float32), pos + 4 * count


# the layers of dlib_face_recognition_resnet_model_v1 (dnn_face_recognition_ex.cpp), by kind
RESNET_LAYERS = {"input_rgb_image_sized": 1, "con_4": 29, "affine_": 29, "relu_": 29, "max_pool_2": 1,
                 "avg_pool_2": 5, "add_prev_": 14, "fc_2": 1}


def read_layers(path: str | Path) -> list[tuple[str, dict]]:
    """The layers of dlib's face-recognition ResNet file, input first: (kind, fields)."""
    try:
        layers = _read_layers(Path(path).read_bytes())
    except (ValueError, IndexError, KeyError) as exc:   # cut short, or not this network's fields
        raise DlibFormatError(f"{path}: not a dlib face-recognition ResNet file this reader knows ({exc})") from None
    kinds = [kind for kind, _ in layers]
    counts = {kind: kinds.count(kind) for kind in RESNET_LAYERS}
    if counts != RESNET_LAYERS or kinds[0] != "input_rgb_image_sized" or kinds[-1] != "fc_2":
        raise DlibFormatError(f"{path}: not the dlib face-recognition ResNet this reader knows (layers {counts})")
    return layers


def _read_layers(data: bytes) -> list[tuple[str, dict]]:
    layers, pos = [], 0
    while (found := LAYER.search(data, pos)) is not None:
        kind, pos = found.group(1).decode(), found.end()
        fields: dict = {}
        if kind == "input_rgb_image_sized":
            fields["mean"] = []
            for _ in range(3):
                value, pos = _float(data, pos)
                fields["mean"].append(value)
        elif kind == "con_4":
            params, pos = _tensor(data, pos)
            values, pos = _varints(data, pos, 7)
            fields = dict(zip(("filters", *WINDOW), values), params=params)
        elif kind == "affine_":
            fields["params"], pos = _tensor(data, pos)
        elif kind in ("max_pool_2", "avg_pool_2"):
            values, pos = _varints(data, pos, 6)
            fields = dict(zip(WINDOW, values))
        elif kind == "fc_2":
            outputs, pos = _varint(data, pos)
            inputs, pos = _varint(data, pos)
            params, pos = _tensor(data, pos)
            fields = {"weights": params[:inputs * outputs].reshape(inputs, outputs)}
        layers.append((kind, fields))
    return layers


def _window(f: dict, shape: list[int], channels: int) -> tuple[dict, list[int]]:
    """A convolution's or pool's ONNX attributes, and the (channels, rows, columns) it gives."""
    attrs = {"kernel_shape": [f["rows"], f["cols"]], "strides": [f["stride_y"], f["stride_x"]],
             "pads": [f["pad_y"], f["pad_x"]] * 2}
    rows = (shape[1] + 2 * f["pad_y"] - f["rows"]) // f["stride_y"] + 1
    cols = (shape[2] + 2 * f["pad_x"] - f["cols"]) // f["stride_x"] + 1
    return attrs, [channels, rows, cols]


# -- the ONNX file, written as protobuf by hand: `import onnx` alone costs 0.9 s (ml_dtypes) in
# every process that embeds; the field numbers are onnx.proto's.

def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _uvarint(field << 3) + _uvarint(value % (1 << 64))


def _bytes(field: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return _uvarint(field << 3 | 2) + _uvarint(len(data)) + data


def _tensor_proto(name: str, array: np.ndarray) -> bytes:
    kind = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}[array.dtype]          # TensorProto.DataType
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, kind) + _bytes(8, name)
            + _bytes(9, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()))


def _node_proto(op: str, inputs: list[str], output: str, attrs: dict) -> bytes:
    attributes = b"".join(_bytes(5, _bytes(1, key) + b"".join(_int(8, v) for v in values) + _int(20, 7))  # INTS
                          for key, values in attrs.items())
    return b"".join(_bytes(1, i) for i in inputs) + _bytes(2, output) + _bytes(3, output) + _bytes(4, op) + attributes


def _value_info(name: str, dims: list) -> bytes:
    shape = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, _int(1, 1) + _bytes(2, shape)))   # float tensor


def build_model(path: str | Path) -> bytes:
    """An ONNX model (bytes): input `chips` float32 (N, 150, 150, 3) RGB 0..255, output
    `descriptors` (N, 128), dlib's own descriptor of each chip."""
    nodes: list[tuple] = []
    weights: list[bytes] = []

    def const(array: np.ndarray, dtype=np.float32) -> str:
        name = f"w{len(weights)}"
        weights.append(_tensor_proto(name, np.asarray(array, dtype)))
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
        name = f"{op.lower()}{len(nodes)}"
        nodes.append((op, inputs, name, attrs))
        return name

    def padded(name: str, shape: list[int], to: list[int]) -> str:
        if shape == to:
            return name
        pads = [0, 0, 0, 0, 0] + [t - s for t, s in zip(to, shape)]
        return node("Pad", [name, const(np.array(pads), np.int64)])

    layers = read_layers(path)
    mean = np.array(layers[0][1]["mean"], np.float32).reshape(1, 3, 1, 1)
    x = node("Transpose", ["chips"], perm=[0, 3, 1, 2])
    x = node("Div", [node("Sub", [x, const(mean)]), const(np.array(256.0))])
    shape = [3, 150, 150]                        # channels, rows, columns
    skip, skip_shape, block_starts = None, None, False
    for kind, f in layers[1:]:
        if kind == "con_4":
            if block_starts:                     # a residual block's first con: its input is the skip
                skip, skip_shape, block_starts = x, list(shape), False
            n, k = f["filters"], shape[0] * f["rows"] * f["cols"] * f["filters"]
            w = f["params"][:k].reshape(n, shape[0], f["rows"], f["cols"])
            attrs, shape = _window(f, shape, n)
            x = node("Conv", [x, const(w), const(f["params"][k:k + n])], **attrs)
        elif kind == "affine_":
            c = shape[0]
            x = node("Add", [node("Mul", [x, const(f["params"][:c].reshape(1, c, 1, 1))]),
                             const(f["params"][c:2 * c].reshape(1, c, 1, 1))])
        elif kind == "relu_":
            x = node("Relu", [x])
        elif kind == "max_pool_2":
            attrs, shape = _window(f, shape, shape[0])
            x = node("MaxPool", [x], **attrs)
            block_starts = True
        elif kind == "avg_pool_2" and f["rows"] == 0:   # avg_pool_everything
            x = node("Flatten", [node("GlobalAveragePool", [x])])
            shape = [shape[0]]
        elif kind == "avg_pool_2":                      # a down block's skip
            attrs, skip_shape = _window(f, skip_shape, skip_shape[0])
            skip = node("AveragePool", [skip], **attrs)
        elif kind == "add_prev_":
            to = [max(a, b) for a, b in zip(shape, skip_shape)]
            x = node("Add", [padded(x, shape, to), padded(skip, skip_shape, to)])
            shape, block_starts = to, True
        elif kind == "fc_2":
            x = node("MatMul", [x, const(f["weights"])])
    op, inputs, _, attrs = nodes[-1]
    nodes[-1] = (op, inputs, "descriptors", attrs)
    graph = (b"".join(_bytes(1, _node_proto(*n)) for n in nodes) + _bytes(2, "dlib_face_recognition_resnet_model_v1")
             + b"".join(_bytes(5, w) for w in weights)
             + _bytes(11, _value_info("chips", ["N", 150, 150, 3])) + _bytes(12, _value_info("descriptors", ["N", 128])))
    return _int(1, 8) + _bytes(2, "facesets") + _bytes(7, graph) + _bytes(8, _int(2, 13))   # IR 8, opset 13


class OnnxDescriptor:
    """dlib's descriptors of 150x150 chips, computed by ONNX Runtime from dlib's own weights.
    Calls take turns (as dlib's, which held the GIL): the session's own threads do the work."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        from facesets.engines.providers import session_options

        self.session = ort.InferenceSession(build_model(path), session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self._turn = threading.Lock()

    def __call__(self, chips: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([np.asarray(c, np.float32) for c in chips])
        with self._turn:
            return self.session.run(["descriptors"], {"chips": batch})[0]
