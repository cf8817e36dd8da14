"""Detectron2 flavour of torchvision's Mask R-CNN: what a converted model-zoo checkpoint needs to
give Detectron2's outputs (README: "Detectron2 checkpoints without detectron2"): caffe BGR input
with PIL resizing, stride in the 1x1 conv, aligned ROIAlign (sampling 0) with Detectron2's level
rule, unrounded anchors on exact strides, and grid_sample mask pasting.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
from torchvision.ops import MultiScaleRoIAlign, roi_align

from balloon_shapes import resize
from balloon_shapes.modeling.grid_roi_align import image_rois
from balloon_shapes.resize import d2_resized_size

D2_PIXEL_MEAN_BGR = (103.53, 116.28, 123.675)
D2_PIXEL_STD_BGR = (1.0, 1.0, 1.0)


def caffe_normalize(image_rgb: Tensor, mean_bgr: Tensor, std_bgr: Tensor) -> Tensor:
    """RGB float 0..1 [3,H,W] -> BGR 0..255 minus the caffe mean, over std."""
    bgr = image_rgb.flip(0) * 255.0
    return (bgr - mean_bgr[:, None, None]) / std_bgr[:, None, None]


def pil_resize(image_rgb: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize as Detectron2 does at test time: PIL bilinear on the uint8 image (``resize``'s,
    which the runtime uses too, so an exported Detectron2-flavour model gets the same pixels)."""
    resized = resize.pil_resize(image_rgb.detach().float().cpu().numpy(), size)
    return torch.from_numpy(resized).to(image_rgb.device)


def d2_paste_masks(masks: Tensor, boxes: Tensor, image_shape: tuple[int, int]) -> Tensor:
    """Detectron2's paste: bilinear grid_sample of the mask probabilities at pixel centres of
    the float box, then ``>= 0.5``. masks [N,1,M,M] -> float 0/1 [N,1,H,W]."""
    h, w = image_shape
    n = masks.shape[0]
    if n == 0:
        return masks.new_zeros((0, 1, h, w))
    x0, y0, x1, y1 = boxes.float().split(1, dim=1)
    img_y = torch.arange(h, device=masks.device, dtype=torch.float32) + 0.5
    img_x = torch.arange(w, device=masks.device, dtype=torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1
    grid = torch.stack(
        [img_x[:, None, :].expand(n, h, w), img_y[:, :, None].expand(n, h, w)], dim=3
    )
    pasted = F.grid_sample(masks.float(), grid, align_corners=False)
    return (pasted >= 0.5).float()


class D2Transform(GeneralizedRCNNTransform):
    """Resize shortest edge with PIL on uint8, then caffe BGR normalisation; D2 mask paste."""

    def __init__(
        self, min_size: int, max_size: int, mean_bgr=D2_PIXEL_MEAN_BGR, std_bgr=D2_PIXEL_STD_BGR
    ) -> None:
        super().__init__(min_size, max_size, [0.0] * 3, [1.0] * 3)
        self.pixel_mean_bgr, self.pixel_std_bgr = tuple(mean_bgr), tuple(std_bgr)  # exports
        self.register_buffer("mean_bgr", torch.tensor(mean_bgr), persistent=False)
        self.register_buffer("std_bgr", torch.tensor(std_bgr), persistent=False)

    def normalize(self, image: Tensor) -> Tensor:
        return image  # done after resizing, on the resized uint8 image, as Detectron2 does

    def resize(self, image: Tensor, target: dict | None = None):
        h, w = image.shape[-2:]
        short = self.torch_choice(self.min_size) if self.training else self.min_size[-1]
        size = d2_resized_size(h, w, short, self.max_size)
        image = caffe_normalize(pil_resize(image, size), self.mean_bgr, self.std_bgr)
        if target is not None:
            target = dict(target)
            target["boxes"] = resize_boxes(target["boxes"], (h, w), size)
            if "masks" in target:
                masks = target["masks"][:, None].float()
                target["masks"] = F.interpolate(masks, size=size)[:, 0].byte()
        return image, target

    def postprocess(self, result, image_shapes, original_image_sizes):
        if self.training:
            return result
        for pred, im_s, o_im_s in zip(result, image_shapes, original_image_sizes):
            boxes = resize_boxes(pred["boxes"], im_s, o_im_s)
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, o_im_s[1])
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, o_im_s[0])
            pred["boxes"] = boxes
            if "masks" in pred:
                pred["masks"] = d2_paste_masks(pred["masks"], boxes, o_im_s)
        return result


class D2AnchorGenerator(AnchorGenerator):
    """Cell anchors not rounded; centres at ``(x * stride, y * stride)`` with exact strides."""

    def __init__(self, sizes, aspect_ratios, strides: list[int]) -> None:
        super().__init__(sizes, aspect_ratios)
        self.strides = list(strides)

    def generate_anchors(self, scales, aspect_ratios, dtype=torch.float32, device=None):
        scales = torch.as_tensor(scales, dtype=dtype, device=device)
        ratios = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)
        anchors = []
        for size in scales:  # Detectron2 order: sizes outer, aspect ratios inner
            area = size**2
            for r in ratios:
                w = torch.sqrt(area / r)
                h = r * w
                anchors.append(torch.stack([-w / 2, -h / 2, w / 2, h / 2]))
        return torch.stack(anchors)

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        grid_sizes = [f.shape[-2:] for f in feature_maps]
        dtype, device = feature_maps[0].dtype, feature_maps[0].device
        strides = [
            [torch.tensor(s, device=device), torch.tensor(s, device=device)] for s in self.strides
        ]
        self.set_cell_anchors(dtype, device)
        per_level = self.grid_anchors(grid_sizes, strides)
        return [torch.cat(per_level) for _ in image_list.image_sizes]


class AlignedMultiScaleRoIAlign(MultiScaleRoIAlign):
    """ROIAlignV2 (``aligned=True``) per FPN level, levels assigned by Detectron2's rule."""

    def __init__(
        self,
        featmap_names: list[str],
        output_size: int,
        sampling_ratio: int,
        strides: list[int],
        canonical_size: int = 224,
        canonical_level: int = 4,
    ) -> None:
        super().__init__(featmap_names, output_size, sampling_ratio)
        self.level_strides = list(strides)
        self.canonical_size, self.canonical_level = canonical_size, canonical_level

    def levels(self, boxes: list[Tensor]) -> Tensor:
        sizes = torch.sqrt(torch.cat([(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) for b in boxes]))
        min_level = int(math.log2(self.level_strides[0]))
        max_level = min_level + len(self.level_strides) - 1
        lvl = torch.floor(self.canonical_level + torch.log2(sizes / self.canonical_size + 1e-8))
        return lvl.clamp(min_level, max_level).long() - min_level

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes) -> Tensor:
        features = [x[name] for name in self.featmap_names]
        rois = image_rois(boxes)  # sizes from full_like/size(0): the export keeps them dynamic
        levels = self.levels(boxes)
        out = features[0].new_zeros((rois.size(0), features[0].size(1), *self.output_size))
        for level, (feature, stride) in enumerate(zip(features, self.level_strides)):
            idx = torch.where(levels == level)[0]
            pooled = roi_align(
                feature,
                rois[idx],
                self.output_size,
                1.0 / stride,
                self.sampling_ratio,
                aligned=True,
            ).to(out.dtype)
            # a scatter, not ``out[idx] = pooled``: traced with one box on a level, the
            # exporter turned that into a reshape to exactly one row (0 boxes then failed)
            out = out.scatter(0, idx.view(-1, 1, 1, 1).expand_as(pooled), pooled)
        return out


def stride_in_1x1(body: nn.Module) -> None:
    """Move each bottleneck's downsampling stride from the 3x3 conv to the first 1x1 conv."""
    for block in body.modules():
        conv1, conv2 = getattr(block, "conv1", None), getattr(block, "conv2", None)
        if hasattr(block, "conv3") and conv2 is not None and conv2.stride != (1, 1):
            conv1.stride, conv2.stride = conv2.stride, (1, 1)
