"""Run an exported Mask R-CNN (``scripts/export.py``: .onnx) with numpy and ONNX Runtime only.

A deployed model needs neither torch nor the training stack: this module imports numpy,
onnxruntime and the project's error types, nothing else (a test runs it with torch blocked).
The graph holds the whole detector, pre-processing (resize, normalise) and the mask paste at
image resolution included; only decoding the image stays outside.
"""

from __future__ import annotations

import json
import os

import numpy as np

from balloon_shapes.errors import WeightsError, first_line

META_KEY = "balloon_shapes"  # ONNX metadata: class names, mask threshold, source weights
OUTPUTS = ("boxes", "labels", "scores", "masks")


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class ExportedModel:
    """An exported detector: ``model(image)`` -> torchvision-style outputs as numpy arrays."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        import onnxruntime as ort
        from onnxruntime.capi.onnxruntime_pybind11_state import (
            InvalidArgument,  # an empty file: "no graph was found"
            InvalidGraph,
            InvalidProtobuf,
        )

        if not os.path.isfile(path):
            raise WeightsError(f"{path}: no such exported model file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or available_cores()  # intra-op = the cores given
        opts.log_severity_level = 3  # errors only: ORT warns about unused initialisers
        try:
            self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        except (InvalidProtobuf, InvalidGraph, InvalidArgument) as e:
            raise WeightsError(f"{path}: not a readable ONNX model ({first_line(e)})") from None
        meta = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        self.meta: dict = json.loads(meta) if meta else {}
        self.path = path

    @property
    def class_names(self) -> list[str] | None:
        return self.meta.get("class_names")

    def __call__(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """``image`` float32 [3, H, W], RGB, 0..1 -> ``boxes`` XYXY [N, 4], ``labels`` [N]
        (1-based), ``scores`` [N], ``masks`` soft [N, 1, H, W] at image resolution."""
        out = self.session.run(None, {"image": np.ascontiguousarray(image, np.float32)})
        return dict(zip(OUTPUTS, out))
