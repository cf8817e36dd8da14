"""CPU inference, variant beside variant in one run: eager fp32 (NHWC), eager bf16 autocast
(where the CPU has bf16 units), the ONNX export on ONNX Runtime fp32 and on OpenVINO (fp32, bf16,
INT8 backbone with the rest in bf16 or fp32); with the model's FLOPs
(torch's flop counter) and the achieved rate as a fraction of this machine's fp32 GEMM rate
(a 4096x4096 matmul timed in the same run), so the distance to the hardware is a ratio.

    python benchmarks/cpu_inference.py [--images 3] [--depths resnet50 resnet101] [--size 800]

Models: torchvision-flavour R50/R101-FPN, random weights with the box score threshold at 0, so
every image keeps its 100 best detections and the mask head runs on all of them (the most a
COCO model keeps: a worst case); 640x480 inputs resized to ``--size``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from balloon_shapes.config import load_config
from balloon_shapes.evaluation.inference import inference_model
from balloon_shapes.modeling import build_model
from balloon_shapes.modeling.export import export_onnx, onnx_to_openvino, quantize_int8
from balloon_shapes.modeling.precision import BF16_UNITS, autocast, cpu_flags
from balloon_shapes.runtime import ExportedModel, available_cores


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return names[0] if names else platform.machine()


def gemm_rate(dtype: torch.dtype = torch.float32, n: int = 4096, reps: int = 5) -> float:
    """GFLOP/s of an n x n matmul in ``dtype`` (best of ``reps``)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def per_image(fn, images: list) -> float:
    """Seconds per image after one warm-up call."""
    fn(images[0])
    return sum(timed(lambda im=im: fn(im)) for im in images[1:]) / (len(images) - 1)


def model_for(depth: str, size: int) -> torch.nn.Module:
    cfg = load_config(
        [
            "model=r50_fpn",
            f"model.backbone={depth}",
            "model.weights=null",
            "model.roi.score_thresh=0.0",
            f"model.min_size={size}",
            f"model.max_size={round(size * 1333 / 800)}",
        ]
    )
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    for block in model.backbone.body.modules():  # calibrated: a random R101's activations grow
        if hasattr(block, "bn3"):  # block by block until no box survives; damped residuals
            block.bn3.weight.mul_(0.2)  # keep every image's 100 detections, as R50's
    return model


def time_depth(depth: str, size: int, images: list, fp32_rate: float) -> list[list]:
    """Rows (model, variant, s/image, images/s, ratio to eager fp32, GFLOP/s, GEMM fraction)."""
    model = model_for(depth, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        dets = len(model([images[0]])[0]["scores"])
    gflop = counter.get_total_flops() / 1e9
    print(f"{depth}: {gflop:.0f} GFLOP per image at {size} px, {dets} detections")
    cpu = torch.device("cpu")
    eager = inference_model(model, cpu)

    def run_eager(im, dtype=None):
        with torch.no_grad(), autocast(dtype, cpu):
            return eager([im])

    variants = {"eager fp32 (NHWC)": run_eager}
    if BF16_UNITS & cpu_flags():
        variants["eager bf16 autocast"] = lambda im: run_eager(im, torch.bfloat16)
    rows, base = [], None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        export_onnx(model_for(depth, size), path, images[0], {})
        exported = ExportedModel(path)
        variants["ONNX Runtime fp32"] = lambda im: exported(im.numpy())
        xml, int8_xml = os.path.join(tmp, "model.xml"), os.path.join(tmp, "int8.xml")
        onnx_to_openvino(path, xml, {})
        quantize_int8(xml, int8_xml, [im.numpy() for im in images[:2]], {})  # speed only
        runtimes = {"OpenVINO fp32": ExportedModel(xml), "OpenVINO INT8 backbone": None}
        if BF16_UNITS & cpu_flags():
            runtimes["OpenVINO bf16"] = ExportedModel(xml, precision="bf16")
        runtimes["OpenVINO INT8 backbone"] = ExportedModel(
            int8_xml, precision="bf16" if BF16_UNITS & cpu_flags() else "f32"
        )
        for name, rt in runtimes.items():
            variants[name] = lambda im, rt=rt: rt(im.numpy())
        for name, fn in variants.items():
            s = per_image(fn, images)
            base = base or s
            rows.append([depth, name, s, 1 / s, base / s, gflop / s, gflop / s / fp32_rate])
    return rows


def main(args: argparse.Namespace) -> None:
    flags = cpu_flags()
    units = sorted(BF16_UNITS & flags)
    print(
        f"CPU: {cpu_model()}; {available_cores()} cores given; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"bf16 units: {', '.join(units) or 'none'}; AVX512-VNNI: {'avx512_vnni' in flags}"
    )
    fp32_rate = gemm_rate()
    print(f"fp32 GEMM 4096^3: {fp32_rate:.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    images = [
        torch.from_numpy(rng.random((3, 480, 640), dtype=np.float32))
        for _ in range(args.images + 1)
    ]
    rows = [r for depth in args.depths for r in time_depth(depth, args.size, images, fp32_rate)]
    print(
        f"\n{'model':<10} {'variant':<22} {'s/image':>8} {'images/s':>9} {'vs fp32':>8} "
        f"{'GFLOP/s':>8} {'of fp32 GEMM':>12}"
    )
    for depth, name, s, ips, ratio, rate, frac in rows:
        print(
            f"{depth:<10} {name:<22} {s:>8.2f} {ips:>9.2f} {ratio:>7.2f}x {rate:>8.0f} "
            f"{frac:>11.0%}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--depths", nargs="+", default=["resnet50", "resnet101"])
    parser.add_argument("--size", type=int, default=800)
    main(parser.parse_args())
