"""Per-image VOC-style mAP@0.5 on masks: the number the classic Keras Mask R-CNN reports.

Per image: predictions sorted by score are matched to ground truth by mask IoU >= 0.5, each
to the highest-IoU still-unmatched ground truth of the same class (``matching``);
precision/recall over that one image's predictions (all classes in one curve), precision made
monotone, all-point interpolated area; then the mean over images.

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

from balloon_shapes.evaluation.matching import match_image


def voc_items(preds: list[dict], gts: list[dict]) -> list[tuple]:
    """``voc_map``'s per-image tuples from compact predictions and their ground truth."""
    return [
        (p["masks"], p["scores"], p["labels"], g["masks"], g["labels"]) for p, g in zip(preds, gts)
    ]


def average_precision(matched: np.ndarray, num_gt: int) -> float:
    """All-point interpolated area under the precision/recall curve of one image."""
    hits = np.cumsum(matched > -1)
    precision = np.concatenate([[0.0], hits / np.arange(1, len(matched) + 1), [0.0]])
    recall = np.concatenate([[0.0], hits / num_gt, [1.0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def image_ap(
    pred_rles, pred_scores, pred_labels, gt_rles, gt_labels, threshold=0.5
) -> float | None:
    """VOC-style AP of one image; None when it has no ground truth."""
    if len(gt_rles) == 0:
        return None
    if len(pred_rles) == 0:
        return 0.0
    pred = {"masks": pred_rles, "scores": pred_scores, "labels": pred_labels}
    _, _, matched = match_image(pred, {"masks": gt_rles, "labels": gt_labels}, threshold)
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
