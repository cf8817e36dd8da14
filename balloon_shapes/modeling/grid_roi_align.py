"""RoIAlign as one ``F.grid_sample`` per FPN level, for training on a CPU.

torchvision's CPU RoIAlign backward is a scalar loop on one thread: in `make train` it took 16 %
of each step. With a fixed number of samples per bin (``sampling_ratio > 0``) RoIAlign is
bilinear sampling at known points, averaged per bin, which ``grid_sample`` does with a
vectorised, multi-threaded backward (3x faster fwd+bwd at `make train`'s sizes). The values are
torchvision's, rounding aside (the grid's normalisation round trip in float32); evaluation and
export keep torchvision's op, so exported graphs are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign


def sample_points(start: Tensor, length: Tensor, size: int, bins: int, per_bin: int):
    """Sample coordinates along one axis (K, bins*per_bin), clamped as torchvision clamps them,
    and whether each lies on the feature map (torchvision zeroes those beyond one pixel out)."""
    t = (torch.arange(bins * per_bin, dtype=start.dtype, device=start.device) + 0.5) / per_bin
    points = start[:, None] + t[None] * (length / bins)[:, None]
    inside = (points >= -1.0) & (points <= size)
    return points.clamp(0, size - 1), inside


def grid_roi_align(
    feature: Tensor,
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool = False,
) -> Tensor:
    """torchvision.ops.roi_align for ``sampling_ratio > 0``: rois (K, 5) as (image, x1, y1, x2,
    y2) in image coordinates -> (K, C, *output_size)."""
    if sampling_ratio <= 0:
        raise ValueError("grid_roi_align needs a fixed sampling_ratio > 0 (0 is adaptive)")
    dtype, x = feature.dtype, feature.float()
    n, c, height, width = x.shape
    (out_h, out_w), s, k = output_size, sampling_ratio, rois.size(0)
    box = rois[:, 1:].float() * spatial_scale - (0.5 if aligned else 0.0)
    size = box[:, 2:] - box[:, :2]
    if not aligned:  # torchvision: a box under one feature pixel is widened to one
        size = size.clamp(min=1.0)
    px, in_x = sample_points(box[:, 0], size[:, 0], width, out_w, s)
    py, in_y = sample_points(box[:, 1], size[:, 1], height, out_h, s)
    gx = ((2 * px + 1) / width - 1)[:, None, :].expand(k, out_h * s, out_w * s)
    gy = ((2 * py + 1) / height - 1)[:, :, None].expand(k, out_h * s, out_w * s)
    image = rois[:, 0].long()
    slot = slots(image, n)
    per_image = int(slot.max()) + 1 if k else 0
    grid = x.new_full((n, per_image, out_h * s, out_w * s, 2), -1.0)
    grid[image, slot] = torch.stack([gx, gy], dim=-1)
    sampled = F.grid_sample(
        x,
        grid.view(n, per_image * out_h * s, out_w * s, 2),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )
    sampled = sampled.view(n, c, per_image, out_h * s, out_w * s).transpose(1, 2)[image, slot]
    sampled = sampled * (in_y[:, :, None] & in_x[:, None, :])[:, None].to(sampled.dtype)
    return (F.avg_pool2d(sampled, s) if s > 1 else sampled).to(dtype)


def slots(image: Tensor, n: int) -> Tensor:
    """Each roi's place among its image's rois (``image``: each roi's image of ``n``), so that
    rois padded per image sit at [image, slot]."""
    order = torch.argsort(image, stable=True)
    counts = torch.bincount(image, minlength=n)
    first = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(image)
    slot[order] = torch.arange(image.numel(), device=image.device) - first[image[order]]
    return slot


def image_rois(boxes: list[Tensor]) -> Tensor:
    """Per-image (N_i, 4) boxes -> (sum N_i, 5) rois (image index, x1, y1, x2, y2), as
    torchvision's RoIAlign takes them. Sizes come from full_like, not len(): an exported graph
    keeps them dynamic."""
    return torch.cat(
        [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)]
    )


class GridMultiScaleRoIAlign(MultiScaleRoIAlign):
    """torchvision's multi-level pooler that pools with ``grid_roi_align`` while training."""

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes) -> Tensor:
        if not self.training or self.sampling_ratio <= 0 or self.map_levels is None:
            return super().forward(x, boxes, image_shapes)
        features = [x[name] for name in self.featmap_names]
        rois, levels = image_rois(boxes), self.map_levels(boxes)
        out = features[0].new_zeros((rois.size(0), features[0].size(1), *self.output_size))
        for level, (feature, scale) in enumerate(zip(features, self.scales)):
            idx = torch.where(levels == level)[0]
            if idx.numel():
                pooled = grid_roi_align(
                    feature, rois[idx], self.output_size, scale, self.sampling_ratio
                )
                out[idx] = pooled.to(out.dtype)
        return out
