"""CPU inference, variant beside variant in one run: eager fp32 (NHWC), eager bf16 autocast
(where the CPU has bf16 units), Detectron2's own ``DefaultPredictor`` on the same weights (if
detectron2 is installed), the ONNX export on ONNX Runtime fp32 and on OpenVINO (fp32, bf16,
INT8 backbone with the rest in bf16 or fp32); with the model's FLOPs (torch's flop counter)
and the achieved rate as a fraction of this machine's fp32 GEMM rate (a 4096x4096 matmul timed
in the same run), so the distance to the hardware is a ratio.

    python benchmarks/cpu_inference.py [--images 3] [--depths resnet50 resnet101] [--size 800]
                                       [--flavour detectron2|torchvision] [--shapes CKPT]
    python benchmarks/cpu_inference.py --smoke      # 1 image of R50 at 64 px: checks the script

Models: R50/R101-FPN with random weights, residual branches damped and class logits spread
so that, at the usual 0.05 score threshold, every image keeps 100 detections and the mask head
runs on all of them (the most a COCO model keeps: a worst case); 640x480 inputs resized to
``--size``. Detectron2 flavour (the zoo
checkpoints' settings, 80 classes): with detectron2 installed the weights are Detectron2's own
random initialisation, saved as a zoo .pkl and loaded into ours, so ``DefaultPredictor`` and
our model run the same weights.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.data.mapper import load_pixels, to_tensor
from balloon_shapes.deploy.graph import export_onnx, onnx_to_openvino, quantize_int8
from balloon_shapes.deploy.runtime import ExportedModel, available_cores
from balloon_shapes.evaluation.inference import inference_model
from balloon_shapes.model_loader import load_model
from balloon_shapes.modeling.precision import BF16_UNITS, autocast, cpu_flags, cpu_model


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


DAMPING = 0.2  # a random ResNet's activations grow block by block until no box survives:
# damped residual branches keep every image's 100 detections
LOGIT_STD = 2.5  # class logits this spread: each proposal has a few classes above the 0.05
# score threshold, as a trained COCO model does (uniform scores of 1/81 would pass none, and
# with the threshold at 0 every class of every proposal reaches NMS: 80,000 boxes)


def calibrate_scores(cls_score: torch.nn.Linear, forward) -> None:
    """Scale the class layer so its logits have ``LOGIT_STD`` on one ``forward()``."""

    def rescale(module, inputs, output):
        f = LOGIT_STD / output.float().std().clamp_min(1e-6).item()
        with torch.no_grad():
            module.weight.mul_(f)
            module.bias.mul_(f)
        return output * f

    handle = cls_score.register_forward_hook(rescale)
    forward()
    handle.remove()


def model_for(
    depth: str,
    size: int,
    flavour: str,
    image: torch.Tensor,
    weights: str | None = None,
    overrides: tuple[str, ...] = (),
) -> torch.nn.Module:
    """Our eager model (``weights``: a zoo .pkl, else seeded random weights, damped and
    calibrated on ``image``; ``overrides``: more ``model.*`` config keys)."""
    cfg = load_config(
        [
            "model=r50_fpn_d2" if flavour == "detectron2" else "model=r50_fpn",
            f"model.backbone={depth}",
            f"model.weights={weights or 'null'}",
            f"model.min_size={size}",
            f"model.max_size={round(size * 1333 / 800)}",
            *(["model.num_classes=80"] if flavour == "detectron2" else []),
            *overrides,
        ]
    )
    torch.manual_seed(0)
    model = load_model(cfg)[0].eval()
    if weights is None:
        for block in model.backbone.body.modules():
            if hasattr(block, "bn3"):
                block.bn3.weight.mul_(DAMPING)
        with torch.no_grad():
            calibrate_scores(model.roi_heads.box_predictor.cls_score, lambda: model([image]))
    return model


def detectron2_predictor(depth: str, size: int, folder: str, image: torch.Tensor):
    """Detectron2's ``DefaultPredictor`` (random zoo-config weights, damped like ours) and the
    .pkl its weights are saved in; None without detectron2."""
    try:
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor
    except ImportError:
        return None, None
    cfg = get_cfg()
    name = {"resnet50": "R_50", "resnet101": "R_101"}[depth]
    cfg.merge_from_file(
        model_zoo.get_config_file(f"COCO-InstanceSegmentation/mask_rcnn_{name}_FPN_3x.yaml")
    )
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    cfg.merge_from_list(
        ["INPUT.MIN_SIZE_TEST", size, "INPUT.MAX_SIZE_TEST", round(size * 1333 / 800)]
    )
    torch.manual_seed(0)
    predictor = DefaultPredictor(cfg)
    state = {k: v.numpy().copy() for k, v in predictor.model.state_dict().items()}
    for key in state:
        if key.endswith("conv3.norm.weight"):
            state[key] *= DAMPING
    predictor.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    cls_score = predictor.model.roi_heads.box_predictor.cls_score
    calibrate_scores(cls_score, lambda: predictor(bgr_uint8(image)))
    state = {k: v.numpy().copy() for k, v in predictor.model.state_dict().items()}
    pkl = os.path.join(folder, f"{depth}.pkl")
    with open(pkl, "wb") as f:
        pickle.dump({"model": state, "__author__": "random (benchmark)"}, f)
    return predictor, pkl


def bgr_uint8(image: torch.Tensor) -> np.ndarray:
    """RGB float [3,H,W] -> what ``DefaultPredictor`` takes: BGR uint8 [H,W,3]."""
    rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def exported_variants(model, images: list, folder: str) -> dict:
    """ONNX Runtime and OpenVINO runs of ``model``'s export, by name."""
    path = os.path.join(folder, "model.onnx")
    meta = export_onnx(model, path, images[0], {})
    xml, int8_xml = os.path.join(folder, "model.xml"), os.path.join(folder, "int8.xml")
    onnx_to_openvino(path, xml, meta)
    quantize_int8(xml, int8_xml, [im.numpy() for im in images[:2]], meta)  # speed only
    runtimes = {"ONNX Runtime fp32": ExportedModel(path), "OpenVINO fp32": ExportedModel(xml)}
    if BF16_UNITS & cpu_flags():
        runtimes["OpenVINO bf16"] = ExportedModel(xml, precision="bf16")
        runtimes["OpenVINO INT8 backbone, bf16"] = ExportedModel(int8_xml, precision="bf16")
    runtimes["OpenVINO INT8 backbone, fp32"] = ExportedModel(int8_xml)
    return {name: lambda im, rt=rt: rt(im.numpy()) for name, rt in runtimes.items()}


BATCH2 = "eager bf16, batch 2 (per image)"  # two images per call: its time is halved


def time_variants(label: str, images: list, gflop: float, rate: float, variants: dict) -> list:
    """Rows (label, variant, s/image, images/s, ratio to the first, GFLOP/s, GEMM fraction)."""
    rows, base = [], None
    for name, fn in variants.items():
        s = per_image(fn, images) / (2 if name == BATCH2 else 1)
        base = base or s
        rows.append([label, name, s, 1 / s, base / s, gflop / s, gflop / s / rate])
        print(f"  {name}: {s:.3f} s/image", flush=True)
    return rows


def flops(model: torch.nn.Module, image: torch.Tensor) -> tuple[float, int]:
    """GFLOP of one forward pass on ``image`` (torch's flop counter) and its detections."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        dets = len(model([image])[0]["scores"])
    return counter.get_total_flops() / 1e9, dets


def eager_variants(model: torch.nn.Module, images: list, batch2: bool = False) -> dict:
    """Our eager model in fp32 and, where the CPU has bf16 units, in bf16 autocast (and with
    ``batch2``, in bf16 on each image and the next in one call)."""
    cpu = torch.device("cpu")
    eager = inference_model(model, cpu)

    def run(ims: list, dtype=None):
        with torch.no_grad(), autocast(dtype, cpu):
            return eager(ims)

    variants = {"eager fp32 (NHWC)": lambda im: run([im])}
    if BF16_UNITS & cpu_flags():
        variants["eager bf16 autocast"] = lambda im: run([im], torch.bfloat16)
        if batch2:
            following = {id(im): images[(i + 1) % len(images)] for i, im in enumerate(images)}
            variants[BATCH2] = lambda im: run([im, following[id(im)]], torch.bfloat16)
    return variants


def time_shapes(weights: str, n: int, fp32_rate: float) -> list:
    """The trained shapes model (``make train``) on its first ``n`` val images (128 px)."""
    cfg = load_config(["+experiment=shapes", f"model.weights={weights}"])
    model, _ = load_model(cfg)
    model.eval()
    records = catalog.load_records(cfg.data, "val")[: n + 1]
    images = [to_tensor(load_pixels(r)) for r in records]
    gflop, _ = flops(model, images[0])
    print(f"shapes model: {gflop:.2f} GFLOP per 128 px image")
    variants = eager_variants(model, images)
    with tempfile.TemporaryDirectory() as tmp:
        fresh, _ = load_model(cfg)
        variants.update(exported_variants(fresh, images, tmp))
        return time_variants("shapes", images, gflop, fp32_rate, variants)


def time_depth(depth: str, size: int, images: list, fp32_rate: float, flavour: str) -> list:
    """Rows (model, variant, s/image, images/s, ratio to eager fp32, GFLOP/s, GEMM fraction)."""
    with tempfile.TemporaryDirectory() as tmp:
        predictor, pkl = (None, None)
        if flavour == "detectron2":
            predictor, pkl = detectron2_predictor(depth, size, tmp, images[0])
        model = model_for(depth, size, flavour, images[0], pkl)
        gflop, dets = flops(model, images[0])
        print(f"{depth} ({flavour}): {gflop:.0f} GFLOP per image at {size} px, {dets} detections")
        variants = eager_variants(model, images, batch2=True)
        if predictor is not None:
            variants["Detectron2 DefaultPredictor fp32"] = lambda im: predictor(bgr_uint8(im))
        variants.update(
            exported_variants(model_for(depth, size, flavour, images[0], pkl), images, tmp)
        )
        return time_variants(depth, images, gflop, fp32_rate, variants)


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
    h, w = min(480, args.size), min(640, args.size * 4 // 3)  # 640x480 unless --size is smaller
    images = [
        torch.from_numpy(rng.random((3, h, w), dtype=np.float32)) for _ in range(args.images + 1)
    ]
    rows = [
        r
        for depth in args.depths
        for r in time_depth(depth, args.size, images, fp32_rate, args.flavour)
    ]
    if args.shapes:
        rows += time_shapes(args.shapes, 20, fp32_rate)
    print(
        f"\n{'model':<10} {'variant':<34} {'s/image':>8} {'images/s':>9} {'vs fp32':>8} "
        f"{'GFLOP/s':>8} {'of fp32 GEMM':>12}"
    )
    for depth, name, s, ips, ratio, rate, frac in rows:
        print(
            f"{depth:<10} {name:<34} {s:>8.3f} {ips:>9.2f} {ratio:>7.2f}x {rate:>8.0f} "
            f"{frac:>11.0%}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--depths", nargs="*", default=["resnet50", "resnet101"])
    parser.add_argument("--size", type=int, default=800)
    parser.add_argument("--flavour", choices=["detectron2", "torchvision"], default="detectron2")
    parser.add_argument("--shapes", help="also the trained shapes model (its .ckpt), 20 val images")
    parser.add_argument("--smoke", action="store_true", help="1 image of R50 at 64 px, torchvision")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.depths, args.size, args.flavour = 1, ["resnet50"], 64, "torchvision"
    main(args)
