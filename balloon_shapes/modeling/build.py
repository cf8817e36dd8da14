"""Config -> torchvision ``MaskRCNN``: backbone, FPN, anchors, heads, norm, freezing, weights."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from omegaconf import DictConfig
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d
from torchvision.ops.poolers import initLevelMapper

from balloon_shapes.errors import ConfigError
from balloon_shapes.modeling import d2_compat as d2
from balloon_shapes.modeling.grid_roi_align import GridMultiScaleRoIAlign
from balloon_shapes.modeling.label_smoothing import LabelSmoothedMaskRCNN, SmoothingPredictor
from balloon_shapes.modeling.mask_class import (
    FeatureKeepingPredictor,
    add_mask_class_head,
    log_aspect,
)

BACKBONES = {
    "resnet18": resnet.resnet18,
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
}
# Keras Mask R-CNN / Detectron2 stage numbers -> torchvision ResNet children.
STAGES = {1: ("conv1", "bn1"), 2: ("layer1",), 3: ("layer2",), 4: ("layer3",), 5: ("layer4",)}


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """``frozen_bn`` (pretrained backbones), ``bn`` or ``gn`` (training from scratch)."""
    if kind == "frozen_bn":
        return FrozenBatchNorm2d
    if kind == "bn":
        return nn.BatchNorm2d
    if kind == "gn":
        return lambda c: nn.GroupNorm(min(32, c // 4), c)
    raise ConfigError(f"model.norm={kind!r}: expected frozen_bn, bn or gn")


def build_backbone(cfg: DictConfig) -> BackboneWithFPN:
    """ResNet body (stages ``returned_layers``) + FPN of ``fpn_channels`` (+ a pooled level)."""
    if cfg.backbone not in BACKBONES:
        raise ConfigError(f"model.backbone={cfg.backbone!r}: expected one of {sorted(BACKBONES)}")
    body = BACKBONES[cfg.backbone](weights=None, norm_layer=norm_layer(cfg.norm))
    layers = list(cfg.returned_layers)
    stage_out = body.inplanes // 8  # channels of layer1's output
    in_channels = [stage_out * 2 ** (i - 1) for i in layers]
    return BackboneWithFPN(
        body,
        return_layers={f"layer{i}": str(k) for k, i in enumerate(layers)},
        in_channels_list=in_channels,
        out_channels=cfg.fpn_channels,
        extra_blocks=LastLevelMaxPool() if cfg.extra_pool else None,
        norm_layer=nn.BatchNorm2d if cfg.fpn_norm == "bn" else None,
    )


def num_levels(cfg: DictConfig) -> int:
    """Feature levels the FPN gives the RPN: one per returned stage, plus the pooled one."""
    return len(cfg.returned_layers) + int(cfg.extra_pool)


def level_strides(cfg: DictConfig) -> list[int]:
    """Stride of each FPN level: 2**(i+1) for ResNet stage i, then x2 for the pooled level."""
    strides = [2 ** (i + 1) for i in cfg.returned_layers]
    return strides + [strides[-1] * 2] if cfg.extra_pool else strides


def anchors_and_pools(
    cfg: DictConfig,
) -> tuple[AnchorGenerator, MultiScaleRoIAlign, MultiScaleRoIAlign]:
    """Anchor generator and the box/mask ROI poolers, torchvision's or Detectron2's flavour."""
    levels = num_levels(cfg)
    if len(cfg.anchor_sizes) != levels:
        raise ConfigError(
            f"model.anchor_sizes has {len(cfg.anchor_sizes)} sizes but the FPN has {levels} levels"
        )
    sizes = tuple((float(s),) for s in cfg.anchor_sizes)
    ratios = (tuple(cfg.aspect_ratios),) * levels
    names = [str(k) for k in range(len(cfg.returned_layers))]
    ratio = cfg.roi.sampling_ratio
    strides = level_strides(cfg)
    pool = strides[: len(names)]  # the pooled levels' strides (not the extra max-pooled one)
    if cfg.flavour == "detectron2":
        return (
            d2.D2AnchorGenerator(sizes, ratios, strides),
            d2.AlignedMultiScaleRoIAlign(names, cfg.roi.pool_size, ratio, pool),
            d2.AlignedMultiScaleRoIAlign(names, 14, ratio, pool),
        )
    if cfg.flavour != "torchvision":
        raise ConfigError(f"model.flavour={cfg.flavour!r}: expected torchvision or detectron2")
    pooler = GridMultiScaleRoIAlign if cfg.roi.grid_align else MultiScaleRoIAlign
    return (
        AnchorGenerator(sizes, ratios),
        fixed_scales(pooler(names, cfg.roi.pool_size, ratio), pool),
        fixed_scales(pooler(names, 14, ratio), pool),
    )


def fixed_scales(pooler: MultiScaleRoIAlign, strides: list[int]) -> MultiScaleRoIAlign:
    """Give the pooler its levels' scales from the FPN's strides. Left unset, torchvision
    infers them from the first batch and keeps them: a first image much wider than tall
    (its padded height far above its own) gave 1/2 for the stride-4 level, and every later
    image was pooled from the wrong places (pytorch/vision#3747)."""
    pooler.scales = [1.0 / s for s in strides]
    k_min, k_max = int(math.log2(strides[0])), int(math.log2(strides[-1]))
    pooler.map_levels = initLevelMapper(
        k_min, k_max, pooler.canonical_scale, pooler.canonical_level
    )
    return pooler


class AspectChannel(nn.Module):
    """A box pooler whose output gains one channel holding each box's log aspect ratio
    (log w/h): RoIAlign warps every box to a square, so without it a circle and an
    axis-aligned ellipse pool alike."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, features, boxes: list[torch.Tensor], image_shapes) -> torch.Tensor:
        pooled = self.pool(features, boxes, image_shapes)
        ratio = log_aspect(torch.cat(boxes))
        channel = ratio.to(pooled.dtype)[:, :, None, None].expand(-1, 1, *pooled.shape[-2:])
        return torch.cat([pooled, channel], 1)


def box_head(cfg: DictConfig) -> nn.Module:
    """``mlp``: two FC layers (Detectron2, torchvision v1); ``conv4fc``: 4 BN convs + 1 FC (v2)."""
    c, s = cfg.fpn_channels + int(cfg.roi.aspect_channel), cfg.roi.pool_size
    if cfg.roi.head == "mlp":
        return TwoMLPHead(c * s * s, cfg.roi.head_dim)
    if cfg.roi.head == "conv4fc":
        convs = [cfg.fpn_channels] * 4
        return FastRCNNConvFCHead((c, s, s), convs, [cfg.roi.head_dim], norm_layer=nn.BatchNorm2d)
    raise ConfigError(f"model.roi.head={cfg.roi.head!r}: expected mlp or conv4fc")


def check_engine(engine: str) -> None:
    """Training builds torchvision's model; a real Detectron2 runs inference only."""
    if engine == "detectron2":
        raise ConfigError(
            "model.engine=detectron2 runs inference only (eval.py, the demos, the export): "
            "train with scripts/d2_train_net.py"
        )
    if engine != "torchvision":
        raise ConfigError(f"model.engine={engine!r}: expected torchvision or detectron2")


def build_model(cfg: DictConfig) -> nn.Module:
    """Build the torchvision Mask R-CNN the ``model`` config describes, ``cfg.weights`` loaded
    (inference on exported files or a real Detectron2: ``model_loader.build_inference_model``)."""
    from balloon_shapes.modeling.weights import load_weights, with_weights_layout

    check_engine(cfg.engine)
    cfg = with_weights_layout(cfg)
    backbone = build_backbone(cfg)
    anchors, box_pool, mask_pool = anchors_and_pools(cfg)
    c, k = cfg.fpn_channels, cfg.num_classes + 1  # + background
    model = LabelSmoothedMaskRCNN(
        backbone,
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        image_mean=list(cfg.image_mean),
        image_std=list(cfg.image_std),
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(c, anchors.num_anchors_per_location()[0], conv_depth=cfg.rpn.conv_depth),
        rpn_pre_nms_top_n_train=cfg.rpn.pre_nms_top_n_train,
        rpn_pre_nms_top_n_test=cfg.rpn.pre_nms_top_n_test,
        rpn_post_nms_top_n_train=cfg.rpn.post_nms_top_n_train,
        rpn_post_nms_top_n_test=cfg.rpn.post_nms_top_n_test,
        rpn_batch_size_per_image=cfg.rpn.batch_size_per_image,
        box_roi_pool=box_pool,
        box_head=box_head(cfg),
        box_predictor=SmoothingPredictor(cfg.roi.head_dim, k),
        box_batch_size_per_image=cfg.roi.batch_size_per_image,
        box_positive_fraction=cfg.roi.positive_fraction,
        box_score_thresh=cfg.roi.score_thresh,
        box_nms_thresh=cfg.roi.nms_thresh,
        box_detections_per_img=cfg.roi.detections_per_img,
        mask_roi_pool=mask_pool,
        mask_head=MaskRCNNHeads(
            c,
            [cfg.mask_head.dim] * cfg.mask_head.layers,
            1,
            norm_layer=nn.BatchNorm2d if cfg.mask_head.norm == "bn" else None,
        ),
        mask_predictor=(FeatureKeepingPredictor if cfg.mask_head.class_head else MaskRCNNPredictor)(
            cfg.mask_head.dim, cfg.mask_head.dim, k
        ),
        label_smoothing=cfg.roi.label_smoothing,
    )
    if cfg.roi.aspect_channel:  # MaskRCNN's constructor only takes a MultiScaleRoIAlign
        model.roi_heads.box_roi_pool = AspectChannel(box_pool)
    if cfg.mask_head.class_head:
        head = cfg.mask_head
        add_mask_class_head(
            model.roi_heads, head.dim, k - 1, head.class_weight, head.class_grad, head.rescore_edge
        )
    if cfg.flavour == "detectron2":
        model.transform = d2.D2Transform(cfg.min_size, cfg.max_size)
        d2.stride_in_1x1(model.backbone.body)
    load_weights(model, cfg.weights)
    set_trainable(model, cfg.trainable)
    if cfg.channels_last:  # NHWC convolutions: faster with oneDNN on CPUs
        model = model.to(memory_format=torch.channels_last)
    return model


def frozen_stages(trainable: str | int) -> list[int]:
    """Stages to freeze: ``heads`` -> all of the ResNet body, ``all`` -> none, ``3+``/3 -> 1..2."""
    text = str(trainable).strip()
    if text == "heads":
        return list(STAGES)
    if text == "all":
        return []
    first = text.rstrip("+")
    if first.isdigit() and 1 <= int(first) <= 5:
        return list(range(1, int(first)))
    raise ConfigError(
        f"model.trainable={trainable!r}: expected heads, all, or a stage like 3+ (1..5)"
    )


def set_trainable(model: MaskRCNN, trainable: str | int) -> None:
    """Freeze the requested ResNet stages (requires_grad False); FPN and heads always train."""
    for p in model.parameters():
        p.requires_grad_(True)
    body = model.backbone.body
    for stage in frozen_stages(trainable):
        for name in STAGES[stage]:
            if hasattr(body, name):
                getattr(body, name).requires_grad_(False)
