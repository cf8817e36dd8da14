"""Detections as every layer sees them: ``Instances`` and the one way a model output becomes one.

A leaf (numpy and torch only), so the trainer, the evaluators and the demos convert the same way,
as Detectron2 keeps its ``Instances`` in ``structures/``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Instances:
    """One image's detections: XYXY boxes [N,4], 1-based labels, scores, masks bool [N,H,W]."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def to_instances(
    output: dict[str, torch.Tensor], score_thresh: float, mask_thresh: float = 0.5
) -> Instances:
    """One torchvision Mask R-CNN output (soft masks [N,1,H,W]) -> instances scored >= thresh."""
    keep = output["scores"] >= score_thresh
    return Instances(
        output["boxes"][keep].float().cpu().numpy(),
        output["labels"][keep].cpu().numpy(),
        output["scores"][keep].float().cpu().numpy(),
        (output["masks"][keep, 0] > mask_thresh).cpu().numpy(),
    )
