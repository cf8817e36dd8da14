"""COCO AP: results json in the standard format, bbox and segm COCOeval, and the evaluator
that training validation and ``eval.py`` share."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch.distributed as dist
from omegaconf import DictConfig
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from balloon_shapes.data.catalog import class_names
from balloon_shapes.data.coco import category_maps, read_coco_json
from balloon_shapes.data.coco_writer import coco_dict
from balloon_shapes.errors import ConfigError
from balloon_shapes.evaluation.inference import compact

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


IOU_TYPES = ("bbox", "segm")
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
    # loadRes writes into the dicts it gets: it gets its own (segm: without "bbox", as in
    # Detectron2, so loadRes takes each area and box from the mask)
    drop = "bbox" if iou_type == "segm" else None
    results = [{k: v for k, v in r.items() if k != drop} for r in results]
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
    """AP (IoU .50:.95, all areas, 100 detections) of each category; ``names`` in category
    id order (``coco_ground_truth``'s)."""
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    out = {}
    for k in range(len(ev.params.catIds)):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        out[names[k]] = float(p.mean()) if p.size else float("nan")
    return out


def summarize(evals: dict[str, COCOeval | None], names: list[str]) -> dict:
    """``{"bbox": {AP, AP50, ...}, "segm": {...}}`` plus per-class AP of finished COCOevals."""
    out = {}
    for iou_type, ev in evals.items():
        stats = ev.stats[:6] if ev is not None else np.zeros(6)
        out[iou_type] = {n: float(s) for n, s in zip(STAT_NAMES, stats)}
        out[iou_type]["per_class_AP"] = per_class_ap(ev, names) if ev is not None else {}
    return out


def run_cocoevals(gt: COCO, results: list[dict]) -> dict[str, COCOeval | None]:
    """One finished COCOeval per IoU type (None for each when there are no results)."""
    return {t: run_cocoeval(gt, results, t) for t in IOU_TYPES}


def coco_metrics(gt: COCO, results: list[dict], names: list[str]) -> dict:
    """``{"bbox": {AP, AP50, ...}, "segm": {...}}`` plus per-class AP, as pycocotools computes."""
    return summarize(run_cocoevals(gt, results), names)


def coco_ground_truth(
    data_cfg: DictConfig, records, backend: str
) -> tuple[list[str], list[int], COCO]:
    """(class names, json category id of each contiguous class, COCO ground truth).

    With an original json (``data.json_file``: COCO), its classes, ids and crowd regions come
    from that json; otherwise the ground truth is built from the records.
    """
    json_file = data_cfg.get("json_file")
    if json_file:
        gt = ground_truth(records, [], json_file, backend)
        names, to_contiguous = category_maps(gt.dataset)
        return names, sorted(to_contiguous), gt  # contiguous ids follow the json's id order
    names = class_names(data_cfg)
    return names, list(range(1, len(names) + 1)), ground_truth(records, names, None, backend)


def gather(items: list) -> list:
    """Every rank's ``items``, concatenated in rank order (just ``items`` without DDP)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    parts = [None] * dist.get_world_size()
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]


class COCOEvaluator:
    """COCO AP of a model on a dataset, in Detectron2's ``DatasetEvaluator`` protocol
    (``reset``/``process``/``evaluate``): training validation and ``eval.py`` both use it, so
    the two cannot disagree. Under DDP each rank processes its shard; ``evaluate`` gathers."""

    def __init__(self, data_cfg: DictConfig, records, mask_thresh: float, backend: str) -> None:
        self.names, self.dataset_ids, self.gt = coco_ground_truth(data_cfg, records, backend)
        self.mask_thresh = mask_thresh
        self.preds: list[dict] = []
        self.results: list[dict] = []  # the last evaluation's coco_instances_results entries
        self.evals: dict[str, COCOeval] = {}  # and its COCOevals (the report's PR curves)

    def reset(self) -> None:
        self.preds = []

    def process(self, image_ids: list[int], outputs: list[dict]) -> None:
        """Model outputs (torchvision format) of the images ``image_ids``."""
        self.preds += [compact(o, int(i), self.mask_thresh) for i, o in zip(image_ids, outputs)]

    def add(self, preds: list[dict]) -> None:
        """Predictions already in ``inference.predict``'s compact form."""
        self.preds += preds

    def evaluate(self) -> dict:
        """``{"bbox": {AP, AP50, ...}, "segm": {...}}``; each image counted once (a
        distributed sampler pads shards with repeats)."""
        unique = {p["image_id"]: p for p in reversed(gather(self.preds))}
        preds = sorted(unique.values(), key=lambda p: p["image_id"])
        self.results = results_json(preds, self.dataset_ids)
        evals = run_cocoevals(self.gt, self.results)
        self.evals = {t: ev for t, ev in evals.items() if ev is not None}
        return summarize(evals, self.names)
