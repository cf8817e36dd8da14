"""COCO AP with pycocotools: results json in the standard format, bbox and segm COCOeval."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from balloon_shapes.data.coco import read_coco_json
from balloon_shapes.data.export import coco_dict
from balloon_shapes.errors import ConfigError

BACKENDS = ("pycocotools", "faster-coco-eval")


def backend_classes(name: str):
    """(COCO, COCOeval) of a backend. faster-coco-eval gave stats identical to pycocotools on
    5k images of synthetic results and runs 3-6x faster (benchmarks/eval_speed.py)."""
    if name == "pycocotools":
        return COCO, COCOeval
    if name == "faster-coco-eval":
        from faster_coco_eval import COCO as FasterCOCO
        from faster_coco_eval import COCOeval_faster

        return FasterCOCO, COCOeval_faster
    raise ConfigError(f"eval.backend={name!r}: expected one of {BACKENDS}")


STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def results_json(preds: list[dict], dataset_ids: list[int]) -> list[dict]:
    """Predictions -> ``coco_instances_results.json`` entries (XYWH boxes, RLE masks).

    ``dataset_ids[k]`` is the json's category id of contiguous class k (label k+1).
    """
    out = []
    for p in preds:
        for box, score, label, rle in zip(p["boxes"], p["scores"], p["labels"], p["masks"]):
            x0, y0, x1, y1 = (float(v) for v in box)
            out.append(
                {
                    "image_id": p["image_id"],
                    "category_id": dataset_ids[int(label) - 1],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(score),
                    "segmentation": rle,
                }
            )
    return out


def ground_truth(
    records, class_names, json_file: str | None = None, backend: str = "pycocotools"
) -> COCO:
    """The COCO api over the original json when there is one, else built from the records."""
    coco_cls, _ = backend_classes(backend)
    if json_file:
        data = read_coco_json(json_file)  # already parsed by the loader
        # COCOeval turns ground-truth polygons into RLEs in place: it gets its own annotations
        dataset = {**data, "annotations": [dict(a) for a in data["annotations"]]}
    else:
        dataset = coco_dict(records, class_names, with_files=False)
    gt = coco_cls()
    gt.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def run_cocoeval(gt: COCO, results: list[dict], iou_type: str) -> COCOeval | None:
    """Evaluate, accumulate, summarize (quietly); None when there are no results."""
    if not results:
        return None
    if iou_type == "segm":  # as Detectron2: without "bbox", loadRes takes area/box from the mask
        results = [{k: v for k, v in r.items() if k != "bbox"} for r in copy.deepcopy(results)]
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        _, eval_cls = backend_classes("pycocotools" if isinstance(gt, COCO) else "faster-coco-eval")
        ev = eval_cls(gt, dt, iou_type)
        ev.params.imgIds = sorted(gt.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def per_class_ap(ev: COCOeval, names: list[str]) -> dict[str, float]:
    """AP (IoU .50:.95, all areas, 100 detections) of each category."""
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    out = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        out[names[k] if k < len(names) else str(cat_id)] = (
            float(p.mean()) if p.size else float("nan")
        )
    return out


def coco_metrics(gt: COCO, results: list[dict], names: list[str]) -> dict:
    """``{"bbox": {AP, AP50, ...}, "segm": {...}}`` plus per-class AP, as pycocotools computes."""
    out = {}
    for iou_type in ("bbox", "segm"):
        ev = run_cocoeval(gt, results, iou_type)
        stats = ev.stats[:6] if ev is not None else np.zeros(6)
        out[iou_type] = {n: float(s) for n, s in zip(STAT_NAMES, stats)}
        out[iou_type]["per_class_AP"] = per_class_ap(ev, names) if ev is not None else {}
        out[iou_type]["_eval"] = ev
    return out
