"""Detections and annotations as every layer sees them: box modes, masks <-> RLE, ``Instances``.

A leaf (numpy, torch, pycocotools), so the data loaders, the trainer, the evaluators and the
demos convert the same way, as Detectron2 keeps ``BoxMode`` and ``Instances`` in ``structures/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch
from pycocotools import mask as mask_utils

from balloon_shapes.errors import DataError


class BoxMode(IntEnum):
    """Detectron2's ``BoxMode`` values for the two modes dataset dicts use here."""

    XYXY_ABS = 0
    XYWH_ABS = 1


def to_xyxy(box: Sequence[float], mode: int) -> list[float]:
    """A dataset-dict box in ``mode`` as XYXY; another mode is the dataset's error."""
    if mode == BoxMode.XYXY_ABS:
        return list(map(float, box))
    if mode == BoxMode.XYWH_ABS:
        x, y, w, h = map(float, box)
        return [x, y, x + w, y + h]
    raise DataError(f"unsupported bbox_mode {mode}; supported: {[m.value for m in BoxMode]}")


def segmentation_rle(segmentation, height: int, width: int) -> dict:
    """Polygons (list of flat xy lists) or RLE (compressed or not) -> one compressed RLE."""
    if isinstance(segmentation, dict):
        if isinstance(segmentation.get("counts"), list):
            return mask_utils.frPyObjects(segmentation, height, width)
        return segmentation
    return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))


def segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    """Polygons (list of flat xy lists) or RLE (compressed or not) -> uint8 mask [H, W]."""
    return mask_utils.decode(segmentation_rle(segmentation, height, width)).astype(np.uint8)


def encode_rles(masks: np.ndarray | torch.Tensor) -> list[dict]:
    """bool masks [N,H,W] -> COCO RLEs with str counts (json-ready)."""
    if len(masks) == 0:
        return []
    if isinstance(masks, torch.Tensor):
        masks = masks.cpu().numpy()
    rles = mask_utils.encode(np.asfortranarray(np.moveaxis(masks, 0, -1).astype(np.uint8)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def encode_rle(mask: np.ndarray) -> dict:
    """One mask [H,W] -> its COCO RLE with str counts."""
    return encode_rles(mask[None])[0]


def decode_rles(rles: list[dict], height: int, width: int) -> np.ndarray:
    """COCO RLEs -> bool masks [N,H,W] (an empty list gives [0,H,W])."""
    if not rles:
        return np.zeros((0, height, width), bool)
    return mask_utils.decode(list(rles)).transpose(2, 0, 1).astype(bool)


def label_names(labels: Sequence[int], class_names: Sequence[str]) -> list[str]:
    """1-based labels (torchvision keeps 0 for background) -> class names."""
    return [class_names[int(c) - 1] for c in labels]


@dataclass
class Instances:
    """One image's detections: XYXY boxes [N,4], 1-based labels, scores, masks bool [N,H,W];
    in a video, ``ids``: each instance's track ID (-1: not yet confirmed), None untracked."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    masks: np.ndarray
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, keep) -> Instances:
        """The instances selected by a boolean mask or an index array."""
        ids = None if self.ids is None else self.ids[keep]
        boxes, labels, scores, masks = self.boxes, self.labels, self.scores, self.masks
        return Instances(boxes[keep], labels[keep], scores[keep], masks[keep], ids)

    def above(self, score_thresh: float) -> Instances:
        """The instances scored >= ``score_thresh``."""
        return self[self.scores >= score_thresh]


def compact_instances(compact: dict, height: int, width: int) -> Instances:
    """An image's compact form (boxes, labels, scores, RLE masks: a prediction's or the ground
    truth's) decoded into ``Instances`` of masks ``height`` x ``width``."""
    boxes = np.asarray(compact["boxes"], np.float64).reshape(-1, 4)
    labels = np.asarray(compact["labels"], np.int64).reshape(-1)
    scores = np.asarray(compact["scores"], np.float64).reshape(-1)
    return Instances(boxes, labels, scores, decode_rles(compact["masks"], height, width))


def to_instances(
    output: dict[str, torch.Tensor], score_thresh: float, mask_thresh: float
) -> Instances:
    """One torchvision Mask R-CNN output (soft masks [N,1,H,W]) -> instances scored >= thresh,
    masks binarised at ``mask_thresh`` (``model.mask_thresh``): the one path every caller takes."""
    keep = output["scores"] >= score_thresh
    return Instances(
        output["boxes"][keep].float().cpu().numpy(),
        output["labels"][keep].cpu().numpy(),
        output["scores"][keep].float().cpu().numpy(),
        (output["masks"][keep, 0] > mask_thresh).cpu().numpy(),
    )
