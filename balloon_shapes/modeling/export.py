"""Export the whole detector (boxes, classes, scores and masks at image resolution) to ONNX.

torch's TorchScript-based exporter (``dynamo=False``, the path torchvision's own ONNX tests
take for Mask R-CNN) traces the model, resize, RPN, ROI heads and mask paste included, with a
dynamic image size and detection count. Class names and thresholds go into the metadata.
"""

from __future__ import annotations

import json

import torch

from balloon_shapes.io import atomic_write
from balloon_shapes.runtime import META_KEY, OUTPUTS

OPSET = 17


def export_onnx(model: torch.nn.Module, path: str, example: torch.Tensor, meta: dict) -> None:
    """Trace ``model`` (torchvision Mask R-CNN, eval mode) on ``example`` [3,H,W] into ``path``.

    ``example`` should give detections: a traced branch that never ran is not exported."""
    import onnx

    model = model.eval().float().to(memory_format=torch.contiguous_format)
    dynamic = {"image": {1: "height", 2: "width"}, **{k: {0: "detections"} for k in OUTPUTS}}
    dynamic["masks"] = {0: "detections", 2: "height", 3: "width"}

    def write(tmp: str) -> None:
        with torch.no_grad():
            torch.onnx.export(
                model,
                ([example],),
                tmp,
                dynamo=False,
                opset_version=OPSET,
                input_names=["image"],
                output_names=list(OUTPUTS),
                dynamic_axes=dynamic,
            )
        proto = onnx.load(tmp)
        onnx.helper.set_model_props(proto, {META_KEY: json.dumps(meta)})
        onnx.save(proto, tmp)

    atomic_write(path, write, suffix=".onnx")
