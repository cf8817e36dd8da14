"""Export the whole detector (boxes, classes, scores and masks at image resolution) to ONNX.

torch's TorchScript-based exporter (``dynamo=False``, the path torchvision's own ONNX tests
take for Mask R-CNN) traces the model, resize, RPN, ROI heads and mask paste included, with a
dynamic image size and detection count. Class names and thresholds go into the metadata.
"""

from __future__ import annotations

import json
import os
import tempfile

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


def onnx_to_openvino(onnx_path: str, xml_path: str, meta: dict) -> None:
    """Convert an exported .onnx to OpenVINO IR (``.xml`` + ``.bin``, fp32 weights), the
    metadata carried in its rt_info. The .bin is renamed into place before the .xml, so a
    reader never finds an .xml without its weights."""
    import openvino as ov

    model = ov.convert_model(onnx_path)
    model.set_rt_info(json.dumps(meta), META_KEY)
    folder = os.path.dirname(os.path.abspath(xml_path))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".tmp-") as tmp:
        tmp_xml = os.path.join(tmp, os.path.basename(xml_path))
        ov.save_model(model, tmp_xml, compress_to_fp16=False)  # fp16 weights moved boxes 6e-3 px
        os.replace(tmp_xml[:-4] + ".bin", xml_path[:-4] + ".bin")
        os.replace(tmp_xml, xml_path)
