"""Label smoothing for the box head's classifier, on top of torchvision's Mask R-CNN.

torchvision computes ``loss_classifier`` as a plain cross-entropy inside ``RoIHeads``; a
label-smoothed one is ``(1 - eps) * CE + eps * mean_k(-log p_k)``, and the second term needs
only the logits, so the predictor keeps it and the model mixes it in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor


class SmoothingPredictor(FastRCNNPredictor):
    """``FastRCNNPredictor`` that, in training, keeps the mean over RoIs and classes of
    ``-log p`` (the uniform part of a label-smoothed cross-entropy). Same weights."""

    uniform_nll: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores, deltas = super().forward(x)
        if self.training:
            self.uniform_nll = -F.log_softmax(scores, dim=1).mean()
        return scores, deltas


class LabelSmoothedMaskRCNN(MaskRCNN):
    """``MaskRCNN`` whose training ``loss_classifier`` is smoothed by ``label_smoothing``,
    as ``F.cross_entropy(..., label_smoothing=eps)``; inference is unchanged."""

    def __init__(self, *args, label_smoothing: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.label_smoothing = label_smoothing

    def forward(self, images, targets=None):
        out = super().forward(images, targets)
        eps = self.label_smoothing
        if self.training and eps:
            uniform = self.roi_heads.box_predictor.uniform_nll
            out["loss_classifier"] = (1 - eps) * out["loss_classifier"] + eps * uniform
        return out
