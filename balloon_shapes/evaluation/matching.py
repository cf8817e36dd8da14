"""The one matcher behind every metric that pairs predictions with ground truth: VOC-style mAP,
TIDE's error types, the confusion matrix and robustness recall.

Greedy, in score order (stable): each prediction takes the still-free ground-truth object of
highest mask IoU >= ``threshold`` (of its own class unless ``any_class``); the first of equal
IoUs wins. Each object is taken at most once (the Keras ``compute_matches`` bug is not kept).
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from balloon_shapes.structures import encode_rle, segmentation_to_mask


def compact_ground_truth(record: dict) -> dict:
    """A record's non-crowd objects in the compact form predictions take (``image_id``, XYXY
    boxes tight around each mask, scores 1, 1-based labels, RLE masks): built once per
    evaluation, matched and drawn as predictions are."""
    anns = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0)]
    h, w = record["height"], record["width"]
    rles = [encode_rle(segmentation_to_mask(a["segmentation"], h, w)) for a in anns]
    boxes = np.zeros((0, 4))
    if rles:  # COCO XYWH -> XYXY
        boxes = np.asarray(mask_utils.toBbox(rles), np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
    return {
        "image_id": record.get("image_id"),
        "boxes": boxes,
        "scores": np.ones(len(anns)),
        "labels": np.asarray([a["category_id"] + 1 for a in anns], np.int64),
        "masks": rles,
    }


def mask_ious(pred_rles: list, gt_rles: list) -> np.ndarray:
    """Mask IoU [P, G] (empty-safe)."""
    if not len(pred_rles) or not len(gt_rles):
        return np.zeros((len(pred_rles), len(gt_rles)))
    return np.asarray(mask_utils.iou(list(pred_rles), list(gt_rles), [0] * len(gt_rles)))


def greedy_match(
    ious: np.ndarray, pred_labels, gt_labels, threshold: float = 0.5, any_class: bool = False
) -> np.ndarray:
    """For predictions already in score order, the index of the object each takes, or -1.

    Args:
        ious: [P, G] mask IoU between the predictions and the objects.
    """
    allowed = np.ones(ious.shape, bool)
    if not any_class:
        allowed = np.asarray(pred_labels)[:, None] == np.asarray(gt_labels)[None, :]
    free = np.ones(ious.shape[1], bool)
    matched = np.full(ious.shape[0], -1)
    for i in range(ious.shape[0]):
        candidates = np.where(allowed[i] & free & (ious[i] >= threshold), ious[i], -1.0)
        if candidates.max(initial=-1.0) >= threshold:
            matched[i] = j = int(np.argmax(candidates))
            free[j] = False
    return matched


def score_order(pred: dict, min_score: float = -np.inf) -> np.ndarray:
    """Indices of a compact prediction's detections scored >= ``min_score``, best first."""
    scores = np.asarray(pred["scores"])
    order = np.argsort(-scores, kind="stable")
    return order[scores[order] >= min_score]


def match_image(
    pred: dict, gt: dict, threshold: float = 0.5, min_score: float = -np.inf,
    any_class: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(detection indices in score order, their IoUs [P, G], the object each took or -1)."""
    order = score_order(pred, min_score)
    ious = mask_ious([pred["masks"][i] for i in order], gt["masks"])
    labels = np.asarray(pred["labels"])[order]
    return order, ious, greedy_match(ious, labels, gt["labels"], threshold, any_class)
