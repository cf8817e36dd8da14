"""Would suppressing cross-class duplicates raise COCO AP? Re-scores an evaluation's results.

    python benchmarks/cross_class_suppression.py outputs/eval_shapes/coco_instances_results.json \
        +experiment=shapes
    python benchmarks/cross_class_suppression.py --smoke   # ground truth plus relabelled copies

Mask R-CNN suppresses duplicates per class only, so one object can come out as a circle and,
at a lower score, as an ellipse. For each mask-IoU threshold this drops every detection that a
higher-scored detection of another class overlaps by more than it, then runs the project's COCO
evaluation (pycocotools) on what is left, against the val set the overrides name.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

from balloon_shapes.cli import guarded
from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.errors import DataError
from balloon_shapes.evaluation.coco_evaluation import coco_ground_truth, coco_metrics, results_json
from balloon_shapes.evaluation.matching import compact_ground_truth, mask_ious
from balloon_shapes.files import read_json

THRESHOLDS = (None, 0.9, 0.7, 0.5, 0.3)


def suppressed(results: list[dict], iou: float | None) -> list[dict]:
    """``results`` without detections a higher-scored one of another class overlaps by > iou."""
    by_image = collections.defaultdict(list)
    for r in results:
        by_image[r["image_id"]].append(r)
    kept = []
    for dets in by_image.values():
        dets = sorted(dets, key=lambda r: -r["score"])
        overlap = mask_ious([d["segmentation"] for d in dets], [d["segmentation"] for d in dets])
        keep: list[int] = []
        for k, d in enumerate(dets):
            rivals = [j for j in keep if dets[j]["category_id"] != d["category_id"]]
            if iou is None or all(overlap[k, j] <= iou for j in rivals):
                keep.append(k)
        kept += [dets[k] for k in keep]
    return kept


def smoke_results(records: list[dict], ids: list[int]) -> list[dict]:
    """Each object found right at score 0.9 and again under the next class at 0.5."""
    preds = []
    for r in records:
        gt = compact_ground_truth(r)
        wrong = gt["labels"] % len(ids) + 1
        preds.append({**gt, "scores": [0.9] * len(wrong) + [0.5] * len(wrong),
                      "labels": [*gt["labels"], *wrong], "boxes": [*gt["boxes"], *gt["boxes"]],
                      "masks": gt["masks"] * 2})  # fmt: skip
    return results_json(preds, ids)


def read_results(path: str) -> list[dict]:
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such results file")
    results = read_json(path, DataError)
    if not isinstance(results, list):
        raise DataError(f"{path}: not a COCO results list (coco_instances_results.json)")
    return results


def main(results_file: str | None, overrides: list[str]) -> int:
    cfg = load_config(overrides)
    records = catalog.load_records(cfg.data, "val")
    names, ids, gt = coco_ground_truth(cfg.data, records, "pycocotools")
    results = smoke_results(records, ids) if results_file is None else read_results(results_file)
    print(f"{len(records)} images of {cfg.data.val}, {len(results)} detections")
    print(f"{'mask IoU':>9} {'kept':>6} {'segm AP50':>9} {'segm AP':>8}")
    for iou in THRESHOLDS:
        kept = suppressed(results, iou)
        segm = coco_metrics(gt, kept, names)["segm"]
        print(f"{'none' if iou is None else iou:>9} {len(kept):>6} {segm['AP50']:>9.4f} "
              f"{segm['AP']:>8.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", help="an evaluation's coco_instances_results.json")
    parser.add_argument("overrides", nargs="*", help="config overrides naming its dataset")
    parser.add_argument("--smoke", action="store_true", help="+experiment=smoke, made-up results")
    args = parser.parse_args()
    if not (args.smoke or args.results):
        parser.error("name an evaluation's coco_instances_results.json (or --smoke)")
    smoke = (None, ["+experiment=smoke"])
    sys.exit(guarded(lambda: main(*(smoke if args.smoke else (args.results, args.overrides)))))
