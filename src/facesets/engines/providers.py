"""onnxruntime execution providers and session options, chosen in one place."""
from __future__ import annotations

import os

PREFERENCE = ["CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider",
              "CPUExecutionProvider"]
DEVICE_NAMES = {"cuda": "CUDAExecutionProvider", "directml": "DmlExecutionProvider",
                "coreml": "CoreMLExecutionProvider", "cpu": "CPUExecutionProvider"}


def choose_providers(device: str = "auto") -> list[str]:
    """Best available providers first; `device` forces one (cpu, cuda, directml, coreml)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device != "auto":
        wanted = DEVICE_NAMES.get(device)
        if wanted is None:
            raise ValueError(f"unknown device {device!r} (auto, {', '.join(DEVICE_NAMES)})")
        if wanted not in available:
            from facesets.engines.base import EngineUnavailable
            raise EngineUnavailable(f"--device {device}: onnxruntime here has no {wanted}")
        return [wanted] + (["CPUExecutionProvider"] if wanted != "CPUExecutionProvider" else [])
    return [p for p in PREFERENCE if p in available] or ["CPUExecutionProvider"]


def session_options(threads: int | None = None):
    """Intra-op threads capped at the cores we may use, so parallel stages don't oversubscribe;
    no spin-waiting, because decode and detection threads run beside the recogniser."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or max(1, len(os.sched_getaffinity(0)))
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # errors only: SCRFD files declare their outputs' sizes for a 640 px input, and onnxruntime
    # warns at every other input size although the outputs are right
    opts.log_severity_level = 3
    return opts
