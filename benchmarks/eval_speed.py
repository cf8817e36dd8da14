"""Evaluation speed: inference images/s (R50-FPN, R101-FPN at 800 px) and COCOeval time on
5k images' worth of synthetic results (pycocotools vs faster-coco-eval when installed).

    python benchmarks/eval_speed.py [--images 4] [--eval-images 5000] [--amp] [--full-detections]
        [--skip-cocoeval] [--batch-size 1] [--workers 0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import time

import numpy as np
import torch
from pycocotools import mask as mask_utils

from balloon_shapes.config import load_config
from balloon_shapes.evaluation import inference
from balloon_shapes.evaluation.inference import InferenceSettings, auto_device, predict
from balloon_shapes.model_loader import load_model


def inference_speed(
    depth: str,
    n: int,
    device: str,
    amp: bool = False,
    full: bool = False,
    batch: int = 1,
    workers: int = 0,
) -> float:
    """Images/s of the inference loop on 640x480 images (resized to 800 px), random weights.

    Random heads score almost nothing >= 0.05, so the mask head barely runs; ``full`` keeps
    every image's 100 best detections, as many as a COCO model can keep (a worst case).
    """
    overrides = ["+experiment=coco_eval", "model.weights=null", f"model.backbone={depth}"]
    cfg = load_config([*overrides, *(["model.roi.score_thresh=0.0"] if full else [])])
    model, _ = load_model(cfg)
    rng = np.random.default_rng(0)
    records = [
        {
            "image": rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
            "image_id": i,
            "height": 480,
            "width": 640,
        }
        for i in range(n + batch)
    ]
    settings = InferenceSettings(cfg.model.mask_thresh, batch, workers, device, amp)
    predict(model, records[:batch], settings, desc="warm-up")
    spent, compact = [0.0], inference.compact

    def timed_compact(*args):  # masks -> RLE on the CPU, per detection
        start = time.perf_counter()
        out = compact(*args)
        spent[0] += time.perf_counter() - start
        return out

    inference.compact = timed_compact
    start = time.perf_counter()
    try:
        predict(model, records[batch:], settings, desc=depth)
    finally:
        inference.compact = compact
    total = time.perf_counter() - start
    print(f"  {depth}: {spent[0] / total:.0%} of the loop in masks -> RLE (compact)")
    return n / total


def synthetic_coco(n_images: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """GT with ~7 boxes/masks per image over 80 classes and ~20 noisy detections per image."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "file_name": f"{i}.jpg", "height": 480, "width": 640})
        for _ in range(rng.integers(1, 14)):
            x, y = rng.integers(0, 560), rng.integers(0, 400)
            w, h = rng.integers(8, 80), rng.integers(8, 80)
            m = np.zeros((480, 640), np.uint8)
            m[y : y + h, x : x + w] = 1
            r = mask_utils.encode(np.asfortranarray(m))
            r["counts"] = r["counts"].decode()
            cat = int(rng.integers(1, 81))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": cat,
                    "iscrowd": 0,
                    "bbox": [int(x), int(y), int(w), int(h)],
                    "area": int(w * h),
                    "segmentation": r,
                }
            )
            for _ in range(rng.integers(1, 3)):  # detections near each object, some wrong class
                dx, dy = rng.integers(-6, 7, 2)
                m2 = np.zeros((480, 640), np.uint8)
                m2[max(0, y + dy) : y + dy + h, max(0, x + dx) : x + dx + w] = 1
                r2 = mask_utils.encode(np.asfortranarray(m2))
                r2["counts"] = r2["counts"].decode()
                results.append(
                    {
                        "image_id": i,
                        "category_id": cat if rng.random() < 0.8 else int(rng.integers(1, 81)),
                        "bbox": [float(x + dx), float(y + dy), float(w), float(h)],
                        "score": float(rng.random()),
                        "segmentation": r2,
                    }
                )
    cats = [{"id": k, "name": str(k)} for k in range(1, 81)]
    return {"images": images, "annotations": anns, "categories": cats}, results


def time_eval(coco_cls, eval_cls, gt_dict: dict, results: list[dict], iou_type: str):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_cls()
        gt.dataset = gt_dict
        gt.createIndex()
        res = [
            {k: v for k, v in r.items() if not (iou_type == "segm" and k == "bbox")}
            for r in results
        ]
        start = time.perf_counter()
        ev = eval_cls(gt, gt.loadRes(res), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return time.perf_counter() - start, np.asarray(ev.stats[:12])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images per model for inference")
    parser.add_argument("--eval-images", type=int, default=5000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action="store_true", help="bf16 on a CPU, fp16 on a GPU")
    parser.add_argument("--skip-cocoeval", action="store_true")
    parser.add_argument("--batch-size", type=int, default=1, help="images per model call")
    parser.add_argument("--workers", type=int, default=0, help="data loader processes")
    parser.add_argument(
        "--full-detections", action="store_true", help="keep 100 detections per image"
    )
    parser.add_argument("--smoke", action="store_true", help="1 image of R50, 5 eval images")
    args = parser.parse_args()
    depths = ("resnet50",) if args.smoke else ("resnet50", "resnet101")
    if args.smoke:
        args.images, args.eval_images = 1, 5
    dev = auto_device(args.device)
    name = (
        torch.cuda.get_device_name()
        if dev.type == "cuda"
        else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    )
    print(f"device: {name}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for depth in depths:
        speed = inference_speed(
            depth,
            args.images,
            args.device,
            args.amp,
            args.full_detections,
            args.batch_size,
            args.workers,
        )
        how = (" amp" if args.amp else "") + (" 100 detections" if args.full_detections else "")
        how += f", batch {args.batch_size}, {args.workers} workers"
        print(
            f"inference {depth}-FPN at 800 px{how}: {speed:.2f} images/s,"
            f" so {5000 / speed / 3600:.1f} h for the 5,000 val2017 images"
        )
    if args.skip_cocoeval:
        return
    gt, results = synthetic_coco(args.eval_images)
    n_obj, n_det = len(gt["annotations"]), len(results)
    print(f"synthetic results: {args.eval_images} images, {n_obj} objects, {n_det} detections")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    backends = {"pycocotools": (COCO, COCOeval)}
    try:
        from faster_coco_eval import COCO as FCOCO
        from faster_coco_eval import COCOeval_faster

        backends["faster-coco-eval"] = (FCOCO, COCOeval_faster)
    except ImportError:
        print("faster-coco-eval not installed: pip install faster-coco-eval to compare")
    for iou_type in ("bbox", "segm"):
        stats = {}
        for label, (coco_cls, eval_cls) in backends.items():
            seconds, stats[label] = time_eval(coco_cls, eval_cls, gt, results, iou_type)
            print(f"{iou_type} COCOeval {label}: {seconds:.1f} s, AP {stats[label][0]:.4f}")
        if len(stats) == 2:
            a, b = stats.values()
            same, diff = bool(np.array_equal(a, b)), np.abs(a - b).max()
            print(f"{iou_type}: identical stats: {same}, max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
