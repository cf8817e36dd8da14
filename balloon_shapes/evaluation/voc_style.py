"""Per-image VOC-style mAP@0.5 on masks: the number the classic Keras Mask R-CNN reports.

Per image: predictions sorted by score are matched to ground truth by mask IoU >= 0.5, each
to the highest-IoU still-unmatched ground truth of the same class; precision/recall over that
one image's predictions (all classes in one curve), precision made monotone, all-point
interpolated area; then the mean over images.

How it differs from COCO AP50: COCO pools all images per class and averages over classes
with 101-point interpolation, ignores crowd regions and keeps 100 detections per image;
here each image counts equally whatever its object count, classes share one curve, and
crowd regions are dropped. The Keras ``compute_matches`` tests ``gt_match[j] > 0`` where
``> -1`` is meant, so a ground truth matched by prediction 0 can be matched again and AP is
inflated; this implementation matches each ground truth at most once. Images without
ground truth have no recall and are left out of the mean (counted in ``images_skipped``).
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from balloon_shapes.structures import encode_rle, segmentation_to_mask


def gt_rles(record: dict) -> tuple[list[dict], list[int]]:
    """Non-crowd ground-truth masks of a record as RLEs, with 1-based labels."""
    anns = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0)]
    h, w = record["height"], record["width"]
    rles = [encode_rle(segmentation_to_mask(a["segmentation"], h, w)) for a in anns]
    return rles, [a["category_id"] + 1 for a in anns]


def voc_items(preds: list[dict], gts: list[tuple]) -> list[tuple]:
    """``voc_map``'s per-image tuples from compact predictions and ``gt_rles`` results."""
    return [(p["masks"], p["scores"], p["labels"], g[0], g[1]) for p, g in zip(preds, gts)]


def match(ious: np.ndarray, pred_labels, gt_labels, threshold: float = 0.5) -> np.ndarray:
    """For predictions in score order, the index of the matched ground truth or -1.

    Args:
        ious: [P, G] mask IoU between predictions (score-sorted) and ground truth.
    """
    gt_used = np.zeros(ious.shape[1], bool)
    matched = np.full(ious.shape[0], -1)
    for i in range(ious.shape[0]):
        for j in np.argsort(-ious[i], kind="stable"):
            if ious[i, j] < threshold:
                break
            if gt_used[j] or pred_labels[i] != gt_labels[j]:
                continue
            gt_used[j], matched[i] = True, j
            break
    return matched


def average_precision(matched: np.ndarray, num_gt: int) -> float:
    """All-point interpolated area under the precision/recall curve of one image."""
    hits = np.cumsum(matched > -1)
    precision = np.concatenate([[0.0], hits / np.arange(1, len(matched) + 1), [0.0]])
    recall = np.concatenate([[0.0], hits / num_gt, [1.0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def score_sorted_matches(
    pred_rles, pred_scores, pred_labels, gt_rles, gt_labels, threshold: float = 0.5
) -> np.ndarray:
    """Predictions in score order (stable), each matched by mask IoU: ground-truth index or -1."""
    order = np.argsort(-np.asarray(pred_scores), kind="stable")
    preds = [pred_rles[i] for i in order]
    ious = np.asarray(mask_utils.iou(preds, list(gt_rles), [0] * len(gt_rles)))
    return match(
        ious.reshape(len(preds), len(gt_rles)),
        np.asarray(pred_labels)[order],
        np.asarray(gt_labels),
        threshold,
    )


def image_ap(
    pred_rles, pred_scores, pred_labels, gt_rles, gt_labels, threshold=0.5
) -> float | None:
    """VOC-style AP of one image; None when it has no ground truth."""
    if len(gt_rles) == 0:
        return None
    if len(pred_rles) == 0:
        return 0.0
    matched = score_sorted_matches(
        pred_rles, pred_scores, pred_labels, gt_rles, gt_labels, threshold
    )
    return average_precision(matched, len(gt_rles))


def voc_map(per_image: list[tuple]) -> dict:
    """Mean of ``image_ap`` over images with ground truth.

    Args:
        per_image: tuples ``(pred_rles, pred_scores, pred_labels, gt_rles, gt_labels)``.
    """
    aps = [image_ap(*item) for item in per_image]
    kept = [a for a in aps if a is not None]
    return {
        "mAP50": float(np.mean(kept)) if kept else 0.0,
        "images": len(kept),
        "images_skipped": len(aps) - len(kept),
    }
