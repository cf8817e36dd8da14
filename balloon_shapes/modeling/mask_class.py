"""A class head on the mask head's features, on top of torchvision's Mask R-CNN.

The box head classifies from 7x7 box features; the mask head sees each object at 14x14 and
learns its outline, which is what tells a circle from an ellipse. This head classifies each
mask RoI from those features plus the box's log aspect ratio (RoIAlign warps every box
square). It is trained on the positive RoIs the mask head already sees (``loss_mask_class``)
and, at inference, rescales each detection's score by its probability of the detection's
class: ``score' = score ** (1 - w) * p ** w``, so where the two heads disagree the box head's
second guess for an object can outrank its first. Detections stay sorted best first. A box the
image's edge cuts has another aspect than its object, so such a detection may keep its box
head's score (``rescore_edge=False``; on video clips, where objects leave the frame, that is
worth 0.024 HOTA; README).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads


def log_aspect(boxes: torch.Tensor) -> torch.Tensor:
    """log(w/h) of (N, 4) xyxy boxes, one column."""
    w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1)
    return torch.log(w / (boxes[:, 3] - boxes[:, 1]).clamp(min=1))[:, None]


class FeatureKeepingPredictor(MaskRCNNPredictor):
    """``MaskRCNNPredictor`` that keeps its input (the mask head's features) for the class
    head. Same weights, same output."""

    features: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.features = x
        return super().forward(x)


class MaskClassifier(nn.Module):
    """Mask features (N, C, 14, 14) pooled to 7x7, with log(w/h), to logits over the
    foreground classes."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2)  # 14x14 -> 7x7; the adaptive pool has no ONNX export
        self.fc = nn.Linear(channels * 49 + 1, num_classes)

    def forward(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        x = self.pool(features).flatten(1)
        return self.fc(torch.cat([x, log_aspect(boxes).to(x.dtype)], 1))


class MaskClassRoIHeads(RoIHeads):
    """``RoIHeads`` plus ``mask_classifier``: ``loss_mask_class`` in training, rescored
    detections at inference (``weight`` w of the formula above)."""

    mask_classifier: MaskClassifier
    weight: float
    grad: bool  # False: the class loss leaves the mask head's features as they are
    rescore_edge: bool  # False: detections whose box touches the image's edge keep their score

    def select_training_samples(self, proposals, targets):
        proposals, matched, labels, deltas = super().select_training_samples(proposals, targets)
        # The mask head runs on these, in this order (torchvision: labels > 0, image by image).
        self._positives = (
            torch.cat([p[lab > 0] for p, lab in zip(proposals, labels)]),
            torch.cat([lab[lab > 0] for lab in labels]),
        )
        return proposals, matched, labels, deltas

    def forward(self, features, proposals, image_shapes, targets=None):
        result, losses = super().forward(features, proposals, image_shapes, targets)
        mask_features = self.mask_predictor.features
        if not self.grad:
            mask_features = mask_features.detach()
        if self.training:
            boxes, labels = self._positives
            logits = self.mask_classifier(mask_features, boxes)
            loss = F.cross_entropy(logits, labels - 1) if len(labels) else logits.sum() * 0
            losses["loss_mask_class"] = loss
            return result, losses
        boxes = torch.cat([r["boxes"] for r in result])
        labels = torch.cat([r["labels"] for r in result])
        probs = F.softmax(self.mask_classifier(mask_features, boxes).float(), 1)
        of_label = probs.gather(1, (labels - 1)[:, None])[:, 0]
        # One image (an export's trace) takes all rows: a split by its detection count would be
        # traced as a constant, and the graph would fail on an image with another count.
        counts = [len(r["labels"]) for r in result]
        parts = [of_label] if len(result) == 1 else of_label.split(counts)
        for r, p, shape in zip(result, parts, image_shapes):
            p = p.to(r["scores"].dtype)
            if not self.rescore_edge:  # p = score there: score ** (1 - w) * score ** w = score
                p = torch.where(touches_edge(r["boxes"], shape), r["scores"], p)
            r["scores"] = r["scores"] ** (1 - self.weight) * p**self.weight
            order = r["scores"].argsort(descending=True)  # best first, as before (TopK in ONNX)
            r.update({k: v[order] for k, v in r.items()})
        return result, losses


def touches_edge(boxes: torch.Tensor, image_shape) -> torch.Tensor:
    """Which (N, 4) xyxy boxes lie within a pixel of the (h, w) image's border (traced sizes
    stay tensors in an export, so the graph takes any image size)."""
    h, w = image_shape
    near_start = (boxes[:, 0] <= 1) | (boxes[:, 1] <= 1)
    return near_start | (boxes[:, 2] >= w - 1) | (boxes[:, 3] >= h - 1)


def add_mask_class_head(
    roi_heads: RoIHeads,
    channels: int,
    classes: int,
    weight: float,
    grad: bool,
    rescore_edge: bool,
) -> None:
    """Turn torchvision's ``roi_heads`` (its mask predictor a ``FeatureKeepingPredictor``)
    into ``MaskClassRoIHeads`` with a new class head over ``classes`` foreground classes."""
    if not isinstance(roi_heads.mask_predictor, FeatureKeepingPredictor):
        raise TypeError("the mask predictor must be a FeatureKeepingPredictor")
    roi_heads.__class__ = MaskClassRoIHeads
    roi_heads.mask_classifier = MaskClassifier(channels, classes)
    roi_heads.weight, roi_heads.grad, roi_heads.rescore_edge = weight, grad, rescore_edge
