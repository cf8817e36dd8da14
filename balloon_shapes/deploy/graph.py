"""Export the whole detector (boxes, classes, scores and each mask in its box) to ONNX, and
from there to OpenVINO IR, INT8 included.

torch's TorchScript-based exporter (``dynamo=False``, the path torchvision's own ONNX tests
take for Mask R-CNN) traces the model, RPN, ROI and mask heads included, with a dynamic image
size and detection count. The paste of each mask into the image is left to the runtime, and so
are a Detectron2-flavour model's PIL resize and caffe normalisation (PIL cannot be traced);
torchvision's resize and normalisation stay in the graph. Class names, thresholds and which
pre-processing and paste the runtime owes go into the metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator

import torch
from torchvision.models.detection import transform as tv_transform

from balloon_shapes.cli import debugging
from balloon_shapes.deploy.runtime import META_KEY, OUTPUTS, graph_input
from balloon_shapes.files import atomic_write, ensure_dir, remove_stale_temps, temp_prefix
from balloon_shapes.modeling.d2_compat import D2Transform

OPSET = 17


@contextlib.contextmanager
def unpasted_masks():
    """While tracing, torchvision's post-processing leaves each mask in its box: pasted in the
    graph it is a per-detection loop (slow on OpenVINO); ``runtime.paste_masks`` does it."""
    original = tv_transform.paste_masks_in_image
    tv_transform.paste_masks_in_image = lambda masks, boxes, size: masks
    try:
        yield
    finally:
        tv_transform.paste_masks_in_image = original


class PreprocessedInput(tv_transform.GeneralizedRCNNTransform):
    """The transform inside an exported Detectron2-flavour graph: ``runtime.graph_input`` has
    resized and normalised the image, so only the padding to ``size_divisible`` is left."""

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        return image

    def resize(self, image: torch.Tensor, target: dict | None = None):
        return image, target


def flavour_meta(model: torch.nn.Module) -> dict:
    """What the runtime does around the graph: Detectron2's resize, normalisation and paste for
    a Detectron2-flavour model; torchvision's paste (``"runtime"``) otherwise."""
    t = model.transform
    if not isinstance(t, D2Transform):
        return {"paste": "runtime"}
    preprocess = {
        "kind": "detectron2",
        "min_size": int(t.min_size[-1]),
        "max_size": int(t.max_size),
        "pixel_mean_bgr": [float(v) for v in t.pixel_mean_bgr],
        "pixel_std_bgr": [float(v) for v in t.pixel_std_bgr],
    }
    return {"paste": "detectron2", "preprocess": preprocess}


@contextlib.contextmanager
def graph_transform(model: torch.nn.Module) -> Iterator[None]:
    """While tracing, a Detectron2-flavour model takes the runtime's resized, normalised image."""
    original = model.transform
    if isinstance(original, D2Transform):
        model.transform = PreprocessedInput(  # sizes and mean/std unused: both steps are no-ops
            800, 1333, [0.0] * 3, [1.0] * 3, size_divisible=original.size_divisible
        )
    try:
        yield
    finally:
        model.transform = original


def export_onnx(model: torch.nn.Module, path: str, example: torch.Tensor, meta: dict) -> dict:
    """Trace ``model`` (torchvision Mask R-CNN, eval mode) on ``example`` [3,H,W] (RGB, 0..1)
    into ``path``; returns the metadata written into it.

    ``example`` should give detections: a traced branch that never ran is not exported."""
    import onnx

    model = model.eval().float().to(memory_format=torch.contiguous_format)
    # masks come out [N, 1, 28, 28], each in its box: the runtime pastes them
    dynamic = {"image": {1: "height", 2: "width"}, **{k: {0: "detections"} for k in OUTPUTS}}
    meta = {**meta, **flavour_meta(model)}
    example = torch.from_numpy(graph_input(example.numpy(), meta))

    def write(tmp: str) -> None:
        with torch.no_grad(), unpasted_masks(), graph_transform(model), warnings.catch_warnings():
            if not debugging():  # the tracer's known warnings; compare() checks the result
                warnings.simplefilter(
                    "ignore", (UserWarning, FutureWarning, torch.jit.TracerWarning)
                )
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
    return meta


def onnx_to_openvino(onnx_path: str, xml_path: str, meta: dict) -> None:
    """Convert an exported .onnx to OpenVINO IR (``.xml`` + ``.bin``, fp32 weights) with
    ``meta`` (what ``export_onnx`` returned)."""
    import openvino as ov

    save_ir(ov.convert_model(onnx_path), xml_path, meta)


def save_ir(model, xml_path: str, meta: dict) -> None:
    """Write an OpenVINO model as IR with ``meta`` in its rt_info and fp32 weights (fp16
    compression moved boxes by 6e-3 px). The .bin is renamed into place before the .xml, so
    a reader never finds an .xml without its weights."""
    import openvino as ov

    model.set_rt_info(json.dumps(meta), META_KEY)
    folder = ensure_dir(os.path.dirname(os.path.abspath(xml_path)))
    remove_stale_temps(folder)  # a killed export's .bin may be hundreds of MB
    with tempfile.TemporaryDirectory(dir=folder, prefix=temp_prefix()) as tmp:
        tmp_xml = os.path.join(tmp, os.path.basename(xml_path))
        ov.save_model(model, tmp_xml, compress_to_fp16=False)
        os.replace(tmp_xml[:-4] + ".bin", xml_path[:-4] + ".bin")
        os.replace(tmp_xml, xml_path)


# What INT8 may touch (regexes of the nodes NNCF leaves in float). ``backbone``: the ResNet and
# FPN convolutions, most of the FLOPs. ``trunks``: also the heads' shared layers, the RPN's 3x3
# conv, the box head's two fully connected layers and the mask head's convs, which at 640x480
# with 1000 proposals cost as much as the backbone; their predictors (the layers that output
# scores, deltas and mask logits), pooling and post-processing stay float. Quantizing those too
# cost most of the AP (README, Deploy).
_TRUNKS = r"/rpn/head/conv/|/roi_heads/box_head/|/roi_heads/mask_head/"
INT8_IGNORED = {
    "backbone": "^(?!/backbone/).*",
    "trunks": f"^(?!/backbone/|{_TRUNKS}).*",
}


def quantize_int8(
    xml_path: str, out_path: str, images: list, meta: dict, scope: str = "backbone"
) -> None:
    """Post-training INT8 quantization (NNCF) of an IR's ``scope`` (``INT8_IGNORED``'s keys),
    calibrated on ``images`` (float32 RGB 0..1 [3,H,W] arrays), written as IR to ``out_path``."""
    import nncf
    import openvino as ov

    nncf.set_log_level(logging.INFO if debugging() else logging.WARNING)  # ~500 INFO lines
    model = ov.Core().read_model(xml_path)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(images, lambda x: {"image": graph_input(x, meta)}),
        subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(patterns=[INT8_IGNORED[scope]], validate=False),
    )
    save_ir(quantized, out_path, {**meta, "precision": "int8", "int8_scope": scope})
