"""INT8's accuracy cost on a balloon-like VIA dataset: segm AP50 of the fp32 and the INT8
OpenVINO export on its val split, as ``scripts/export.py precision=int8`` prints it.

    make train                                    # outputs/shapes/checkpoints/best.ckpt
    python benchmarks/int8_accuracy.py [--root outputs/balloon_like] [--iters 300]

The balloon dataset cannot be downloaded here, so this writes one like it: 61 train / 13 val
photos of many sizes and both orientations (a VIA 2.x json per split, one class, polygons of
30 points as annotators draw them), 1-6 shaded balloons with a knot and a string on skies,
trees and buildings. The shapes model is fine-tuned on it (its class layers reset: 1 class),
then exported fp32 and INT8 (calibrated on train) and both are evaluated on val.
"""

from __future__ import annotations

import argparse
import json
import os

import cv2
import numpy as np

from balloon_shapes.commands.export import run_export
from balloon_shapes.config import load_config
from balloon_shapes.deploy.graph import INT8_IGNORED
from balloon_shapes.engine.train import train

SIZES = [(1024, 768), (768, 1024), (1280, 720), (2048, 1536), (800, 800), (1536, 2048), (640, 480)]


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Sky gradient, then dark tree blobs and grey buildings along the bottom."""
    top, bottom = rng.uniform(120, 230, 3), rng.uniform(200, 255, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    image = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
    for _ in range(rng.integers(0, 6)):
        x, bw, bh = rng.integers(0, w), rng.integers(w // 12, w // 4), rng.integers(h // 8, h // 3)
        cv2.rectangle(image, (x, h - bh), (x + bw, h), rng.uniform(60, 160, 3).tolist(), -1)
    for _ in range(rng.integers(0, 8)):
        c = (int(rng.integers(0, w)), int(h - rng.integers(0, h // 4)))
        axes = (int(rng.integers(w // 30, w // 8)), int(rng.integers(h // 20, h // 6)))
        cv2.ellipse(image, c, axes, 0, 0, 360, rng.uniform(20, 90, 3).tolist(), -1)
    return image + rng.normal(0, 4, image.shape)


def balloon(rng: np.random.Generator, image: np.ndarray) -> list[list[float]]:
    """Draw one shaded balloon (knot and string below); its outline as [xs, ys]."""
    h, w = image.shape[:2]
    rx = rng.uniform(0.04, 0.16) * min(h, w) * 1.6
    ry, cx, cy = rx * rng.uniform(1.1, 1.35), rng.uniform(0, w), rng.uniform(0, h * 0.8)
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    light = np.hypot(xx - (cx - rx * 0.35), yy - (cy - ry * 0.4)) / (rx + ry)
    color = rng.uniform(0, 255, 3)
    shade = np.clip(1.35 - light, 0.45, 1.3)[..., None]
    image[inside] = np.clip(color * shade, 0, 255)[inside]
    knot = np.array(
        [[cx, cy + ry], [cx - rx * 0.12, cy + ry * 1.12], [cx + rx * 0.12, cy + ry * 1.12]]
    )
    cv2.fillPoly(image, [knot.astype(np.int32)], (color * 0.7).tolist())
    end = (int(cx + rng.uniform(-rx, rx)), int(cy + ry * 3))
    cv2.line(image, (int(cx), int(cy + ry * 1.12)), end, (60, 60, 60), max(1, w // 600))
    angles = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    xs = np.clip(cx + rx * np.cos(angles), 0, w - 1)
    ys = np.clip(cy + ry * np.sin(angles), 0, h - 1)
    return [xs.round(1).tolist(), ys.round(1).tolist()]


def write_split(folder: str, n: int, seed: int) -> None:
    """``n`` JPEG photos and their VIA 2.x json (``via_region_data.json``)."""
    os.makedirs(folder, exist_ok=True)
    rng, entries = np.random.default_rng(seed), {}
    for i in range(n):
        w, h = SIZES[rng.integers(len(SIZES))]
        image = background(rng, h, w)
        outlines = [balloon(rng, image) for _ in range(rng.integers(1, 7))]
        name = f"photo_{seed}_{i:03d}.jpg"
        cv2.imwrite(os.path.join(folder, name), image[:, :, ::-1].astype(np.uint8))
        size = os.path.getsize(os.path.join(folder, name))
        regions = [
            {
                "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
                "region_attributes": {},
            }
            for xs, ys in outlines
        ]
        entries[f"{name}{size}"] = {"filename": name, "size": size, "regions": regions}
    with open(os.path.join(folder, "via_region_data.json"), "w") as f:
        json.dump(entries, f)


def overrides(args: argparse.Namespace) -> list[str]:
    return [
        "+experiment=my_via",
        f"data.root={args.root}",
        "data.classes=[balloon]",
        "model=slim_r18",
        "model.mask_head.class_head=true",  # as make train's checkpoint has it
        f"model.min_size={args.size}",
        f"model.max_size={round(args.size * 1.6)}",
        "model.anchor_sizes=[32,64,128,256]",
    ]


def main(args: argparse.Namespace) -> None:
    for split, n, seed in (("train", 61, 1), ("val", 13, 2)):
        if not os.path.exists(os.path.join(args.root, split, "via_region_data.json")):
            write_split(os.path.join(args.root, split), n, seed)
    run = os.path.join(args.root, "run")
    ckpt = os.path.join(run, "checkpoints", "best.ckpt")
    if not os.path.exists(ckpt):
        cfg = load_config(
            [
                *overrides(args),
                f"model.weights={args.weights}",
                f"output_dir={run}",
                f"train.max_iter={args.iters}",
                "train.stages=[]",
                "model.trainable=all",
                f"train.lr={args.lr}",
                "train.schedule=cosine",
                f"train.eval_period={args.iters}",
                f"train.checkpoint_period={args.iters}",
            ]
        )
        train(cfg)
    out = os.path.join(args.root, "export", f"int8_{args.int8_scope}.xml")
    cfg = load_config(
        [
            *overrides(args),
            f"model.weights={ckpt}",
            f"output={out}",
            "format=openvino",
            "precision=int8",
            "calib=train",
            "calib_size=61",
            f"int8_scope={args.int8_scope}",
        ],
        "export",
    )
    result = run_export(cfg)
    drop = result["segm_AP50_fp32"] - result["segm_AP50_int8"]
    print(
        f"balloon-like val (13 photos): segm AP50 fp32 {result['segm_AP50_fp32']:.4f}, "
        f"int8 {result['segm_AP50_int8']:.4f}: INT8 costs {drop * 100:.2f} points"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="outputs/balloon_like")
    parser.add_argument("--weights", default="outputs/shapes/checkpoints/best.ckpt")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--int8-scope", choices=list(INT8_IGNORED),
                        default=load_config([], "export").int8_scope)  # fmt: skip
    main(parser.parse_args())
