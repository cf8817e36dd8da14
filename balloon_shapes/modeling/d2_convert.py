"""Detectron2 model-zoo state dict (``{name: numpy array}``) -> our torchvision key scheme.

Class layers are reordered: Detectron2 puts background last in ``cls_score`` and has no
background rows in ``bbox_pred`` or the mask predictor; torchvision wants background first
everywhere, so a zero background row is added for boxes and masks.
"""

from __future__ import annotations

import re

import numpy as np
import torch

RULES: list[tuple[str, str]] = [  # (Detectron2 regex, torchvision template), first match wins
    (r"backbone\.bottom_up\.stem\.conv1\.weight", "backbone.body.conv1.weight"),
    (r"backbone\.bottom_up\.stem\.conv1\.norm\.(\w+)", r"backbone.body.bn1.\1"),
    (
        r"backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.weight",
        "backbone.body.layer{r}.{1}.conv{2}.weight",
    ),
    (
        r"backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.norm\.(\w+)",
        "backbone.body.layer{r}.{1}.bn{2}.{3}",
    ),
    (
        r"backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.weight",
        "backbone.body.layer{r}.{1}.downsample.0.weight",
    ),
    (
        r"backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.norm\.(\w+)",
        "backbone.body.layer{r}.{1}.downsample.1.{2}",
    ),
    (r"backbone\.fpn_lateral(\d)\.(\w+)", "backbone.fpn.inner_blocks.{f}.0.{1}"),
    (r"backbone\.fpn_output(\d)\.(\w+)", "backbone.fpn.layer_blocks.{f}.0.{1}"),
    (r"proposal_generator\.rpn_head\.conv\.(\w+)", r"rpn.head.conv.0.0.\1"),
    (r"proposal_generator\.rpn_head\.objectness_logits\.(\w+)", r"rpn.head.cls_logits.\1"),
    (r"proposal_generator\.rpn_head\.anchor_deltas\.(\w+)", r"rpn.head.bbox_pred.\1"),
    (r"roi_heads\.box_head\.fc1\.(\w+)", r"roi_heads.box_head.fc6.\1"),
    (r"roi_heads\.box_head\.fc2\.(\w+)", r"roi_heads.box_head.fc7.\1"),
    (r"roi_heads\.box_predictor\.cls_score\.(\w+)", r"roi_heads.box_predictor.cls_score.\1"),
    (r"roi_heads\.box_predictor\.bbox_pred\.(\w+)", r"roi_heads.box_predictor.bbox_pred.\1"),
    (r"roi_heads\.mask_head\.mask_fcn(\d)\.(\w+)", "roi_heads.mask_head.{m}.0.{1}"),
    (r"roi_heads\.mask_head\.deconv\.(\w+)", r"roi_heads.mask_predictor.conv5_mask.\1"),
    (r"roi_heads\.mask_head\.predictor\.(\w+)", r"roi_heads.mask_predictor.mask_fcn_logits.\1"),
]


def torchvision_key(d2_key: str) -> str | None:
    """Our key for a Detectron2 key, or None when no rule places it."""
    for pattern, template in RULES:
        m = re.fullmatch(pattern, d2_key)
        if not m:
            continue
        if "{" not in template:
            return m.expand(template)
        g = m.groups()
        first = int(g[0])
        return template.format(None, *g[1:], r=first - 1, f=first - 2, m=first - 1)
    return None


def _to_tensor(value) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(value))


def background_first(key: str, value: torch.Tensor) -> torch.Tensor:
    """Reorder or pad a class layer from Detectron2's layout to torchvision's."""
    if key.startswith("roi_heads.box_predictor.cls_score."):
        return torch.cat([value[-1:], value[:-1]])  # background: last -> first
    if key.startswith("roi_heads.box_predictor.bbox_pred."):
        return torch.cat([value.new_zeros((4, *value.shape[1:])), value])
    if key.startswith("roi_heads.mask_predictor.mask_fcn_logits."):
        return torch.cat([value.new_zeros((1, *value.shape[1:])), value])
    return value


def convert(d2_state: dict) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Detectron2 ``model`` dict -> (our state dict, Detectron2 keys no rule could place)."""
    state, unplaced = {}, []
    for key, value in d2_state.items():
        ours = torchvision_key(key)
        if ours is None:
            unplaced.append(key)
            continue
        state[ours] = background_first(ours, _to_tensor(value).float())
    return state, unplaced
