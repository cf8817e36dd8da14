"""RoIAlign forward + backward: torchvision's op against training's grid_sample one, at
`make train`'s sizes (a batch of 8 128x128 images: the stride-4 level, 64 channels; 256 box
RoIs pooled to 7x7, 64 mask RoIs to 14x14), alternated in one process, medians.

    python benchmarks/roi_align_speed.py [--repeats 30] [--sampling-ratio 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchvision.ops import roi_align

from balloon_shapes.modeling.grid_roi_align import grid_roi_align
from balloon_shapes.modeling.precision import cpu_model

CASES = {"box head (256 RoIs, 7x7)": (256, 7), "mask head (64 RoIs, 14x14)": (64, 14)}


def inputs(rois: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """An FPN level of 8 images (channels-last, as the model's) and boxes of 4-64 px on them."""
    g = torch.Generator().manual_seed(seed)
    feature = torch.randn(8, 64, 32, 32, generator=g).to(memory_format=torch.channels_last)
    image = torch.arange(8).repeat_interleave(rois // 8)[:, None].float()
    corner = torch.rand(rois, 2, generator=g) * 100
    size = torch.rand(rois, 2, generator=g) * 60 + 4
    boxes = torch.cat([corner, (corner + size).clamp(max=128)], dim=1)
    return feature.requires_grad_(), torch.cat([image, boxes], dim=1)


def seconds(op, feature: torch.Tensor, rois: torch.Tensor, side: int, ratio: int) -> float:
    """One forward and backward of ``op``."""
    tic = time.perf_counter()
    out = op(feature, rois, (side, side), 0.25, ratio)
    out.backward(torch.ones_like(out))
    return time.perf_counter() - tic


def main(repeats: int, ratio: int) -> None:
    cpu = cpu_model()
    print(f"{cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"sampling_ratio {ratio}, {repeats} repeats")  # fmt: skip
    for name, (count, side) in CASES.items():
        feature, rois = inputs(count)
        times: dict[str, list[float]] = {"torchvision": [], "grid_sample": []}
        for _ in range(repeats + 1):  # the first of each is a warm-up
            times["torchvision"].append(seconds(roi_align, feature, rois, side, ratio))
            times["grid_sample"].append(seconds(grid_roi_align, feature, rois, side, ratio))
        tv, gs = (statistics.median(t[1:]) * 1e3 for t in times.values())
        print(f"{name}: torchvision {tv:.1f} ms, grid_sample {gs:.1f} ms, {tv / gs:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--sampling-ratio", type=int, default=1)
    args = parser.parse_args()
    main(args.repeats, args.sampling_ratio)
