"""A real-time splash on 2 CPU cores? The balloon architecture (R101-FPN, Detectron2 flavour,
random weights) exported to OpenVINO INT8 and run as the video demo runs it (``amp=auto``), on a
640x480 clip at its native size: end-to-end frames/s (decode to encode, tracker included) with
the model on every frame and on one in 4 (masks carried along DIS flow), and what each stage
costs per frame (decode, model, flow, mask warping, splash, encode). Random weights are spread
so that 100 detections pass 0.5 (a worst case, ``--score 0.5``); ``--score`` higher keeps as
few as a real video's objects to draw; ``--detections`` caps the graph's own (its mask head
runs on each, whatever the threshold).

    python benchmarks/video_realtime.py [--frames 48] [--every-n 1 4] [--detections 10]
                                        [--int8-scope backbone trunks]
    python benchmarks/video_realtime.py --smoke     # R50 at 160x120, 6 frames: checks the script
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import av
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_inference import model_for  # noqa: E402
from video_fps import make_clip  # noqa: E402

from balloon_shapes.config import load_config  # noqa: E402
from balloon_shapes.data.mapper import to_tensor  # noqa: E402
from balloon_shapes.demo.predictor import Predictor  # noqa: E402
from balloon_shapes.demo.tracking import FlowCarrier  # noqa: E402
from balloon_shapes.demo.video import VideoOptions, frame_picture, make_tracker, run_video  # noqa: E402
from balloon_shapes.demo.video_io import open_source, pick_codec  # noqa: E402
from balloon_shapes.deploy.graph import (  # noqa: E402
    INT8_IGNORED,
    export_onnx,
    onnx_to_openvino,
    quantize_int8,
)
from balloon_shapes.model_loader import load_model  # noqa: E402


def export_int8(
    depth: str, frame: np.ndarray, folder: str, scope: str, detections: int | None
) -> str:
    """The random-weight model traced at the clip's size, keeping its top ``detections`` (the
    RoIs its mask head runs on), to OpenVINO IR, INT8 in ``scope``."""
    image = to_tensor(frame)
    h = frame.shape[0]
    top = (f"model.roi.detections_per_img={detections}",) if detections else ()
    model = model_for(depth, h, "detectron2", image, overrides=top)
    onnx, xml, int8 = (os.path.join(folder, f"m.{e}") for e in ("onnx", "xml", "int8.xml"))
    meta = export_onnx(model, onnx, image, {"class_names": [f"c{i}" for i in range(80)]})
    onnx_to_openvino(onnx, xml, meta)
    quantize_int8(xml, int8, [image.numpy()], meta, scope)
    return int8


def per_frame(fn, items) -> float:
    """Mean seconds of ``fn`` over ``items`` (after one warm-up call)."""
    fn(items[0])
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items)


def stages(clip: str, frames: list, predictor: Predictor) -> dict:
    """Seconds per frame of each stage, alone."""

    def decode(_):
        with av.open(clip) as c:
            for _ in c.decode(video=0):
                pass

    insts = [predictor.infer([f])[0] for f in frames[:4]]
    carrier = FlowCarrier()
    pairs = list(zip(frames[:-1], frames[1:]))
    flow = per_frame(lambda p: carrier.flow(p[1], p[0]), pairs)
    warp = per_frame(lambda p: carrier(p[0], p[1], insts[0]), pairs) - flow
    draw = frame_picture(["x"], "splash")
    out = {
        "decode": per_frame(decode, [None]) / len(frames),
        "model": per_frame(lambda f: predictor.infer([f]), frames[:4]),
        "flow": flow,
        "warp masks": warp,
        "splash": per_frame(lambda f: draw(f, insts[0]), frames),
    }
    with tempfile.TemporaryDirectory() as tmp, av.open(os.path.join(tmp, "e.mp4"), "w") as o:
        stream = pick_codec(o, 25, frames[0].shape[1], frames[0].shape[0])

        def encode(f):
            o.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))

        out["encode"] = per_frame(encode, frames)
    out["instances"] = float(np.mean([len(i) for i in insts]))
    return out


def run_scope(args, scope: str, clip: str, frames: list, folder: str) -> None:
    """Export the model with INT8 in ``scope``; print each stage's cost and the end-to-end
    frames/s at each ``every_n``."""
    depth = "resnet50" if args.smoke else "resnet101"
    start = time.perf_counter()
    xml = export_int8(depth, frames[0], folder, scope, args.detections)
    print(f"export + INT8 calibration: {time.perf_counter() - start:.0f} s")
    demo = [f"input={clip}", f"model.weights={xml}", "mode=splash", f"score_thresh={args.score}"]
    cfg = load_config(demo, "video_demo")
    model, names = load_model(cfg)
    predictor = Predictor.from_config(cfg, model, names)
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    h, w = frames[0].shape[:2]
    print(f"{depth} Detectron2 flavour, OpenVINO INT8 {scope}, amp={cfg.inference.amp}, "
          f"{w}x{h}, {cpu}, torch {torch.__version__}, score_thresh {args.score}, "
          f"top {args.detections or 'the config'} detections")  # fmt: skip
    for key, s in stages(clip, frames, predictor).items():
        print(f"  {key:>10}: " + (f"{s:.1f}" if key == "instances" else f"{s * 1000:.1f} ms"))
    for every_n in args.every_n:
        source = open_source(clip)
        options = VideoOptions(1, every_n, None, None, "flow")
        start = time.perf_counter()
        draw, tracker = frame_picture(names, "splash"), make_tracker(cfg, source)
        out = os.path.join(folder, f"out{every_n}.mp4")
        run_video(source, out, predictor.infer, draw, options, tracker, names)
        fps = len(frames) / (time.perf_counter() - start)
        print(f"every_n={every_n}: {fps:.1f} frames/s end to end")


def main(args: argparse.Namespace) -> None:
    w, h = (160, 120) if args.smoke else (640, 480)
    with tempfile.TemporaryDirectory() as tmp:
        clip = os.path.join(tmp, "clip.mp4")
        make_clip(clip, args.frames, w, h)
        with av.open(clip) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        for scope in args.int8_scope:  # one after the other in one run: compare them here
            os.makedirs(os.path.join(tmp, scope))
            run_scope(args, scope, clip, frames, os.path.join(tmp, scope))


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--every-n", type=int, nargs="+", default=[1, 4])
    p.add_argument("--score", type=float, default=0.5, help="the demo's score_thresh")
    p.add_argument("--detections", type=int,  # none: the model config's (Detectron2's 100)
                   help="the graph's top detections, masks computed for each")  # fmt: skip
    p.add_argument("--smoke", action="store_true", help="R50 at 160x120, 6 frames")
    p.add_argument("--int8-scope", choices=list(INT8_IGNORED), nargs="+",
                   default=[load_config([], "export").int8_scope])  # fmt: skip
    args = p.parse_args()
    if args.smoke:
        args.frames, args.every_n = 6, [2]
    return args


if __name__ == "__main__":
    main(parse())
