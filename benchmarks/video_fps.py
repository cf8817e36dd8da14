"""Video demo throughput: the pipelined demo vs a naive read-predict-write loop, same model
and frames, end to end (decode + model + splash + encode), frames/s and their ratio.

Two naive loops: one calls the demo's predictor (so the ratio is what the pipeline adds), one
calls the model as built, NCHW in fp32 (what a first script does; the demo's predictor runs
NHWC on a CPU and bf16 with --amp).

    python benchmarks/video_fps.py [--frames 8] [--models resnet50 resnet101] [--device auto]
    python benchmarks/video_fps.py --smoke     # 2 frames, the smoke model: checks the script
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import tempfile
import time
from fractions import Fraction

import av
import numpy as np
import torch

from balloon_shapes.config import load_config
from balloon_shapes.data.mapper import to_tensor
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.demo.video import VideoOptions, run_video
from balloon_shapes.demo.video_io import pick_codec
from balloon_shapes.evaluation.inference import images_per_pass
from balloon_shapes.model_loader import load_model
from balloon_shapes.structures import Instances, to_instances
from balloon_shapes.visualizer import color_splash


def make_clip(path: str, n: int, width: int, height: int) -> None:
    """A moving bright square on a textured background."""
    rng = np.random.default_rng(0)
    base = rng.integers(40, 200, (height, width, 3), dtype=np.uint8)
    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            img = base.copy()
            x = (i * 12) % (width - 120)
            img[60:180, x : x + 120] = (230, 40, 40)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            c.mux(s.encode(f))
        c.mux(s.encode())


def draw(image, inst):
    return color_splash(image, inst.masks)


def naive(src: str, dst: str, predictor: Predictor) -> int:
    """One frame at a time in one thread: decode, predict, splash, encode."""
    with av.open(src) as cin, av.open(dst, "w") as cout:
        video = cin.streams.video[0]
        stream = pick_codec(cout, Fraction(25), video.width, video.height)
        n = 0
        for n, frame in enumerate(cin.decode(video=0), start=1):
            image = frame.to_ndarray(format="rgb24")
            out = av.VideoFrame.from_ndarray(draw(image, predictor(image)), format="rgb24")
            out.pts, out.time_base = n - 1, Fraction(1, 25)
            cout.mux(stream.encode(out))
        cout.mux(stream.encode())
    return n


def plain(model: torch.nn.Module, device: str):
    """What a first script does: the model as built (NCHW, fp32), one frame per call."""
    dev = torch.device(device if device != "auto" else "cpu")
    model = model.eval().to(dev)

    @torch.no_grad()
    def predict(image: np.ndarray) -> Instances:
        return to_instances(model([to_tensor(image).to(dev)])[0], 0.5, 0.5)

    return predict


def time_model(predictor: Predictor) -> list[float]:
    """Accumulate the seconds spent in ``predictor.batch``; pop() reads and resets."""
    spent = [0.0]
    batch = predictor.batch

    def timed(images):
        start = time.perf_counter()
        try:
            return batch(images)
        finally:
            spent[0] += time.perf_counter() - start

    predictor.batch = timed

    class Meter(list):
        def pop(self):
            value, spent[0] = spent[0], 0.0
            return value

    return Meter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--models", nargs="+", default=["resnet50", "resnet101"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="2 small frames, the smoke model")
    args = parser.parse_args()
    sizes = ((160, 90),) if args.smoke else ((640, 360), (1280, 720))
    if args.smoke:
        args.frames, args.models = 2, ["smoke"]
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    name = (
        torch.cuda.get_device_name()
        if device == "cuda"
        else f"{platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"device: {name}; torch {torch.__version__}; {args.frames} frames per run")
    tmp = tempfile.mkdtemp()
    for w, h in sizes:
        src = os.path.join(tmp, f"clip_{w}x{h}.mp4")
        make_clip(src, args.frames, w, h)
        for depth in args.models:
            cfg = load_config(
                ["+experiment=smoke"]
                if depth == "smoke"
                else ["+experiment=coco_eval", "model.weights=null", f"model.backbone={depth}"]
            )
            model, _ = load_model(cfg)
            first_script = plain(copy.deepcopy(model), device)
            first_script(np.zeros((h, w, 3), np.uint8))  # warm-up
            start = time.perf_counter()
            naive(src, os.path.join(tmp, "plain.mp4"), first_script)
            t_plain = time.perf_counter() - start
            predictor = Predictor(
                model, ["x"] * 80, score_thresh=0.5, mask_thresh=0.5, device=device, amp=args.amp
            )
            predictor(np.zeros((h, w, 3), np.uint8))  # warm-up
            model_s = time_model(predictor)
            start = time.perf_counter()
            n = naive(src, os.path.join(tmp, "naive.mp4"), predictor)
            t_naive, m_naive = time.perf_counter() - start, model_s.pop()
            start = time.perf_counter()
            batch = images_per_pass(predictor.device, args.batch_size)  # as the demo does
            run_video(
                src, os.path.join(tmp, "piped.mp4"), predictor.batch, draw, VideoOptions(batch)
            )
            t_piped, m_piped = time.perf_counter() - start, model_s.pop()
            print(
                f"{w}x{h} {depth}-FPN: naive with the plain model {n / t_plain:.2f} fps,"
                f" naive with the demo's predictor {n / t_naive:.2f} fps,"
                f" pipelined {n / t_piped:.2f} fps; pipelined/naive {t_naive / t_piped:.2f}x,"
                f" pipelined/plain {t_plain / t_piped:.2f}x (batch {batch});"
                f" model share {m_naive / t_naive:.0%} naive,"
                f" {m_piped / t_piped:.0%} pipelined"
            )


if __name__ == "__main__":
    main()
