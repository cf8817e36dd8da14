"""``scripts/export.py``: a model (our checkpoint, zoo weights) -> an .onnx or OpenVINO .xml
file that ``model.weights=`` takes everywhere, checked against the eager model before it is
kept (and for INT8, its segm AP50 measured before and after)."""

from __future__ import annotations

import itertools
import logging
import os
import tempfile

import cv2
import numpy as np
import torch
from omegaconf import DictConfig

from balloon_shapes.commands.evaluate import segm_ap50
from balloon_shapes.data import catalog
from balloon_shapes.data.mapper import load_pixels, to_tensor
from balloon_shapes.deploy.exported import is_exported
from balloon_shapes.deploy.graph import (
    INT8_IGNORED,
    OPSET,
    export_onnx,
    onnx_to_openvino,
    quantize_int8,
)
from balloon_shapes.deploy.runtime import ExportedModel
from balloon_shapes.errors import ConfigError, OutputError
from balloon_shapes.files import check_writable
from balloon_shapes.model_loader import load_model, resolve_config
from balloon_shapes.modeling.precision import BF16_UNITS, cpu_flags

log = logging.getLogger(__name__)
FORMATS = {"onnx": ".onnx", "openvino": ".xml"}
# fp32 export vs eager, on every CPU: boxes within half a pixel, and masks that differ only along
# their edge (edge_distance: within 2 px, where a 28x28 mask upsampled to its box can sit at the
# threshold).
TOLERANCE = {"box_px": 0.5, "score": 1e-3, "mask_edge_px": 2.0}


def check_config(cfg: DictConfig) -> None:
    """Mistakes fail in one line before the model is built."""
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format!r}: expected one of {list(FORMATS)}")
    if cfg.precision not in ("fp32", "int8"):
        raise ConfigError(f"precision={cfg.precision!r}: expected fp32 or int8")
    if cfg.int8_scope not in INT8_IGNORED:
        raise ConfigError(f"int8_scope={cfg.int8_scope!r}: expected one of {list(INT8_IGNORED)}")
    if cfg.precision == "int8" and cfg.format != "openvino":
        raise ConfigError("precision=int8: needs format=openvino (NNCF quantizes OpenVINO IR)")
    calib_split(cfg)
    if os.path.isdir(cfg.output):
        raise OutputError(f"{cfg.output}: is a folder; name the file, e.g. output={cfg.output}/"
                          f"model{FORMATS[cfg.format]}")  # fmt: skip
    if not str(cfg.output).endswith(FORMATS[cfg.format]):
        raise ConfigError(f"output={cfg.output}: expected a {FORMATS[cfg.format]} file name")
    if cfg.model.engine != "torchvision":
        raise ConfigError(
            f"model.engine={cfg.model.engine}: export traces the torchvision engine "
            "(model.flavour=detectron2 gives Detectron2's outputs)"
        )
    if is_exported(cfg.model.weights):
        raise ConfigError(f"model.weights={cfg.model.weights}: already exported")
    weights = cfg.model.weights
    if isinstance(weights, str) and os.path.exists(weights) and os.path.exists(cfg.output):
        if os.path.samefile(weights, cfg.output):
            raise OutputError(f"{cfg.output}: output would overwrite the weights")
    check_writable(os.path.dirname(os.path.abspath(cfg.output)), "output folder")


def calib_split(cfg: DictConfig) -> str:
    """``calib``: ``train``, ``val``, or the dataset either names (``calib=balloon_val`` with
    ``+experiment=balloon``) -> the split of ``data`` to calibrate on."""
    if cfg.calib in ("train", "val"):
        return cfg.calib
    names = {cfg.data.train: "train", cfg.data.val: "val"}
    if cfg.calib not in names:
        raise ConfigError(
            f"calib={cfg.calib!r}: expected train, val, {cfg.data.train} or {cfg.data.val} "
            "(a split of data)"
        )
    return names[cfg.calib]


def example_image(
    cfg: DictConfig, model: torch.nn.Module, tries: int = 20
) -> tuple[torch.Tensor, dict]:
    """The first val image (of ``tries`` with objects) the model detects something in, and the
    eager output on it: a branch the trace never ran is not exported right (OpenVINO then
    fails on any detection)."""
    records = catalog.load_records(cfg.data, "val")
    candidates = [r for r in records if r.get("annotations")][:tries] or list(records[:1])
    model.eval()
    first = None
    for record in candidates:
        image = to_tensor(load_pixels(record))
        with torch.no_grad():
            output = model([image])[0]
        if len(output["scores"]):
            return image, output
        first = first or (image, output)
    log.warning(
        "no detections on %d val images: the export is traced on an image without "
        "any, and may fail on images with some",
        len(candidates),
    )
    return first


def pair(eager: dict, exported: dict) -> np.ndarray:
    """For each eager detection, the exported one of the same class with the nearest box (each
    used once): detections whose scores tie to float precision may come in either order."""
    e_boxes, x_boxes = eager["boxes"].numpy(), exported["boxes"]
    cost = np.abs(e_boxes[:, None] - x_boxes[None]).max(2)
    cost[eager["labels"].numpy()[:, None] != exported["labels"][None]] = np.inf
    order = []
    for row in cost:
        j = int(np.argmin(row))
        order.append(j)
        cost[:, j] = np.inf
    return np.array(order, np.int64)


def edge_distance(eager: np.ndarray, exported: np.ndarray) -> float:
    """How far from ``eager``'s edge two binary [H, W] masks differ, in pixels (0: they agree;
    1: only pixels touching the edge). Float noise flips only pixels whose probability sits at
    the threshold, which lie along the edge; a wrong export differs inside or far outside."""
    diff = eager != exported
    if not diff.any():
        return 0.0
    framed = np.pad(eager.astype(np.uint8), 1)  # a mask cut by the image border ends there
    inside = cv2.distanceTransform(framed, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    outside = cv2.distanceTransform((~eager).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(np.where(eager, inside, outside)[diff].max())


def compare(eager: dict, exported: dict, mask_thresh: float) -> dict:
    """How far the exported outputs are from eager's: detections, box px, score, mask IoU and
    the pixels that differ off the masks' edges."""
    n = len(eager["scores"])
    out = {"detections": n, "exported_detections": len(exported["scores"])}
    if n == 0 or n != out["exported_detections"]:
        box_px = 0.0 if n == 0 else float("inf")
        return {**out, "box_px": box_px, "score": 0.0, "mask_iou": 1.0, "mask_edge_px": 0.0}
    exported = {k: v[pair(eager, exported)] for k, v in exported.items()}
    e_masks = eager["masks"][:, 0].numpy() > mask_thresh
    x_masks = exported["masks"][:, 0] > mask_thresh
    inter = (e_masks & x_masks).sum((1, 2))
    union = (e_masks | x_masks).sum((1, 2))
    ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)  # two empty masks agree
    return {
        **out,
        "box_px": float(np.abs(exported["boxes"] - eager["boxes"].numpy()).max()),
        "score": float(np.abs(exported["scores"] - eager["scores"].numpy()).max()),
        "mask_iou": float(min(ious)),
        "mask_edge_px": max(edge_distance(e, x) for e, x in zip(e_masks, x_masks)),
    }


def write_fp32(cfg: DictConfig, model, image: torch.Tensor, meta: dict, path: str) -> dict:
    """The fp32 export in ``cfg.format`` at ``path``; returns the metadata written."""
    if cfg.format == "onnx":
        return export_onnx(model, path, image, meta)
    with tempfile.TemporaryDirectory() as tmp:
        meta = export_onnx(model, os.path.join(tmp, "model.onnx"), image, meta)
        onnx_to_openvino(os.path.join(tmp, "model.onnx"), path, meta)
    return meta


def describe(report: dict) -> str:
    """``compare``'s report in one line, with its verdict."""
    return (
        f"{report['exported_detections']}/{report['detections']} detections, boxes within "
        f"{report['box_px']:.2g} px, scores {report['score']:.2g}, masks differ at most "
        f"{report['mask_edge_px']:.1f} px from their edge (IoU >= {report['mask_iou']:.4f}) -> "
        f"{'ok' if matches(report) else 'MISMATCH'}"
    )


def matches(report: dict) -> bool:
    return (
        report["exported_detections"] == report["detections"]
        and report["box_px"] <= TOLERANCE["box_px"]
        and report["score"] <= TOLERANCE["score"]
        and report["mask_edge_px"] <= TOLERANCE["mask_edge_px"]
    )


def calibration_images(cfg: DictConfig, split: str) -> list[np.ndarray]:
    """The first ``calib_size`` images of ``data.<split>`` (train by default: calibrating on
    the split the AP is measured on would flatter INT8)."""
    records = catalog.load_records(cfg.data, split, required=True)  # none: one line, not NNCF's
    records = itertools.islice(iter(records), cfg.calib_size)
    return [to_tensor(load_pixels(r)).numpy() for r in records]


def val_ap50(cfg: DictConfig, weights: str, amp: str | bool = False) -> float:
    """segm AP50 of ``weights`` on ``data.val``; with ``amp=auto``, what the demos run: the
    rest of the graph in bf16 where the CPU has units."""
    run = cfg.copy()
    run.model.weights = weights
    return segm_ap50(run, amp)


def int8(cfg: DictConfig, fp32_path: str, meta: dict, images: list[np.ndarray]) -> dict:
    """Quantize ``fp32_path`` into ``cfg.output`` with calibration ``images``; segm AP50 on
    data.val before and after (and, on a CPU with bf16 units, of INT8 with the unquantized
    rest in bf16)."""
    split = cfg.data[calib_split(cfg)]
    print(f"INT8 ({cfg.int8_scope}): calibrating on {len(images)} images of {split}")
    quantize_int8(fp32_path, str(cfg.output), images, meta, cfg.int8_scope)
    before, after = val_ap50(cfg, fp32_path), val_ap50(cfg, str(cfg.output))
    print(
        f"segm AP50 on {cfg.data.val}: fp32 {before:.4f} -> int8 {after:.4f} "
        f"({after - before:+.4f})"
    )
    result = {"segm_AP50_fp32": before, "segm_AP50_int8": after}
    if BF16_UNITS & cpu_flags():
        mixed = val_ap50(cfg, str(cfg.output), "auto")
        print(f"  int8 with the rest in bf16 (amp=auto on this CPU): {mixed:.4f}")
        result["segm_AP50_int8_bf16"] = mixed
    return result


def run_export(cfg: DictConfig) -> dict:
    """Export ``cfg.model`` to ``cfg.output`` (fp32, or INT8 with its accuracy cost measured)
    and compare the fp32 export with the eager model."""
    cfg = resolve_config(cfg)  # a checkpoint brings its data: calibration and the val images
    check_config(cfg)
    model, names = load_model(cfg)
    calibration = calibration_images(cfg, calib_split(cfg)) if cfg.precision == "int8" else []
    image, eager = example_image(cfg, model)
    meta = {
        "class_names": list(names),
        "mask_thresh": float(cfg.model.mask_thresh),
        "source_weights": str(cfg.model.weights),
        "opset": OPSET,
    }
    print(f"exporting to {cfg.output} (traced on a {image.shape[2]}x{image.shape[1]} image)")
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = os.path.join(tmp, "fp32.xml") if cfg.precision == "int8" else str(cfg.output)
        meta = write_fp32(cfg, model, image, meta, fp32_path)
        report = compare(eager, ExportedModel(fp32_path)(image.numpy()), cfg.model.mask_thresh)
        print(f"fp32 export vs eager on that image: {describe(report)}")
        result = {**report, "matches_eager": matches(report), "output": str(cfg.output)}
        if cfg.precision == "int8":
            result.update(int8(cfg, fp32_path, meta, calibration))
    return result
