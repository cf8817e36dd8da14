"""Video that holds together, measured: tracking and carried masks against ground-truth clips.

    python benchmarks/video_quality.py [--weights CKPT] [--seeds 1 2 3] [--frames 150] [--every-n 4]
    python benchmarks/video_quality.py --smoke   # a 2-iteration model, 1 short clip: checks it
    python benchmarks/video_quality.py --truth   # the ground truth as detections: tracking's bound
    python benchmarks/video_quality.py tracker._target_=trackers.OCSORTTracker \
        '~tracker.track_activation_threshold' tracker.lost_track_buffer=90 --every-n 1 4

The shapes model (``--weights``; default ``make bench``'s outputs/bench_shapes/checkpoints/
best.ckpt, trained with the ``make train`` recipe when missing: about 10 minutes) runs the video
demo's pipeline (decode, model, tracker, carried masks, overlay, encode) on ground-truth clips
(``balloon_shapes/data/clips.py``, ``--seeds``: tune settings on others than the reported 1-3).
For every ``every_n`` and both ways of carrying masks between model frames (``freeze``,
``flow``) it prints TrackEval's HOTA, DetA, AssA, IDF1, ID switches and sMOTSA
(class-agnostic), J (mean mask IoU per object and frame; J_in and J_edge over the objects the
frame's edge does not / does cut), end-to-end frames/s (model loading excluded) and fps_0,
the same pipeline's frames/s with the model's outputs replayed (what every frame costs besides
the model: the bound on what running the model less often can give), averaged over the clips;
``--plot`` draws docs/video_quality.png (or the path given). With ``--truth`` the clips' own
masks are the detections (no model): what tracking and carrying alone reach.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from balloon_shapes.config import load_config
from balloon_shapes.data.clips import ClipSpec, names, read_mots, write_clip
from balloon_shapes.data.shapes import CLASSES
from balloon_shapes.demo.image_demo import draw_picture
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.demo.tracking import mask_boxes
from balloon_shapes.demo.video import VideoOptions, make_tracker, run_video
from balloon_shapes.demo.video_io import open_source
from balloon_shapes.engine.train import train
from balloon_shapes.evaluation.video_metrics import (
    mean_j,
    on_edge,
    track_scores,
    tracked_objects,
)
from balloon_shapes.model_loader import load_model
from balloon_shapes.structures import Instances

DEFAULT_WEIGHTS = "outputs/bench_shapes/checkpoints/best.ckpt"
COLUMNS = ("HOTA", "DetA", "AssA", "IDF1", "IDSW", "sMOTSA", "J", "J_in", "J_edge", "fps", "fps_0")
RATES = ("IDSW", "fps", "fps_0")  # printed with one decimal


def weights(path: str | None, smoke: bool, scratch: str) -> str:
    """The checkpoint to measure: given, ``make bench``'s, or trained now."""
    if path:
        return path
    if smoke:
        out = os.path.join(scratch, "smoke")
        train(load_config(["+experiment=smoke", f"output_dir={out}"]))
        return os.path.join(out, "checkpoints", "last.ckpt")
    if not os.path.isfile(DEFAULT_WEIGHTS):
        print(f"no {DEFAULT_WEIGHTS}: training the make train recipe into outputs/bench_shapes")
        train(load_config(["+experiment=shapes", "output_dir=outputs/bench_shapes"]))
    return DEFAULT_WEIGHTS


def run_one(video: str, truth: list, every_n: int, carry: str, ckpt: str, args) -> dict:
    """The demo's pipeline on one clip; its scores against the clip's ground truth."""
    demo = [f"input={video}", f"model.weights={ckpt}", "mode=overlay", *args.overrides]
    cfg = load_config(demo, "video_demo")
    if args.truth:
        predict, class_names = truth_detections(truth, every_n), list(CLASSES)
    else:
        model, class_names = load_model(cfg)
        predict = Predictor.from_config(cfg, model, class_names).infer
    shown = []

    def draw(image, inst):
        shown.append(inst)
        return draw_picture(image, inst, class_names, "overlay")

    options = VideoOptions(cfg.inference.batch_size, every_n, None, None, carry)
    model_outputs: list[Instances] = []

    def recorded(images: list[np.ndarray]) -> list[Instances]:
        model_outputs.extend(predict(images))
        return model_outputs[-len(images) :]

    def timed(predict_fn) -> float:
        """Seconds of the demo's whole pipeline on the clip (a fresh tracker)."""
        source = open_source(video)
        start = time.perf_counter()
        run_video(source, os.path.join(args.scratch, "out.mp4"), predict_fn, draw, options,
                  make_tracker(cfg, source), class_names)  # fmt: skip
        return time.perf_counter() - start

    seconds = timed(recorded)
    frames, replay = len(shown), iter(model_outputs)
    rest = timed(lambda images: [next(replay) for _ in images])  # the model's cost taken out
    shown = shown[:frames]
    scores = track_scores(truth, [tracked_objects(inst) for inst in shown])
    inside = mean_j(truth, shown, lambda mask: not on_edge(mask))  # J_edge: the edge cuts them
    j = {"J": mean_j(truth, shown), "J_in": inside, "J_edge": mean_j(truth, shown, on_edge)}
    return {**scores, **j, "fps": frames / seconds, "fps_0": frames / rest}


def truth_detections(truth: list, every_n: int):
    """A stand-in for the model that returns each model frame's ground truth (score 1)."""
    frames = iter(range(0, len(truth), every_n))

    def predict(images: list[np.ndarray]) -> list[Instances]:
        out = []
        for image in images:
            objects = truth[next(frames)]
            masks = np.array([o.mask for o in objects], bool).reshape(-1, *image.shape[:2])
            labels = np.array([o.category_id for o in objects], np.int64)
            out.append(Instances(mask_boxes(masks), labels, np.ones(len(objects)), masks))
        return out

    return predict


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        args.scratch = scratch
        ckpt = "ground truth" if args.truth else weights(args.weights, args.smoke, scratch)
        spec = ClipSpec(frames=args.frames)
        clips = []
        for seed in args.seeds:
            video, mots = names(seed, scratch)
            write_clip(seed, video, mots, spec)
            gt = read_mots(mots)
            clips.append((video, [gt.get(t, []) for t in range(spec.frames)]))
        rows = {}
        for every_n in args.every_n:
            for carry in ("freeze", "flow") if every_n > 1 else ("flow",):
                runs = [run_one(v, t, every_n, carry, ckpt, args) for v, t in clips]
                rows[every_n, carry] = {k: float(np.mean([r[k] for r in runs])) for k in COLUMNS}
    report(rows, args, ckpt)


def report(rows: dict, args: argparse.Namespace, ckpt: str) -> None:
    size = f"{ClipSpec().width}x{ClipSpec().height}"
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    print(f"\nclips {args.seeds} x {args.frames} frames ({size}), weights {ckpt}, {cpu}")
    print(f"demo keys: {' '.join(args.overrides) or 'video_demo.yaml defaults'}")
    print("| every_n | carry | " + " | ".join(COLUMNS) + " |")
    print("|---:|---|" + "---:|" * len(COLUMNS))
    for (every_n, carry), r in rows.items():
        cells = [f"{r[k]:.1f}" if k in RATES else f"{r[k]:.3f}" for k in COLUMNS]
        print(f"| {every_n} | {carry} | " + " | ".join(cells) + " |")
    if args.plot:
        plot(rows, args.plot)


def plot(rows: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for carry, style in (("flow", "o-"), ("freeze", "s--")):
        pts = sorted((n, r) for (n, c), r in rows.items() if c == carry or n == 1)
        n = [p[0] for p in pts]
        for ax, key in zip(axes, ("J", "HOTA", "fps")):
            ax.plot(n, [p[1][key] for p in pts], style, label=carry)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("every_n (model on 1 frame in n)")
            ax.set_title(key)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", help=f"a shapes checkpoint (default {DEFAULT_WEIGHTS})")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="the clips' seeds")
    p.add_argument("--frames", type=int, default=150, help="frames per clip")
    p.add_argument("--every-n", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("overrides", nargs="*", help="demo config keys (tracker, same_object_iou, ...)")
    p.add_argument("--plot", nargs="?", const="docs/video_quality.png", help="draw the figures")
    p.add_argument("--truth", action="store_true", help="the ground truth as detections")
    p.add_argument("--smoke", action="store_true", help="a 2-iteration model, 6 frames, every_n 2")
    args = p.parse_args(argv)
    if args.smoke:
        args.seeds, args.frames, args.every_n = [1], 6, [2]
    return args


if __name__ == "__main__":
    main(parse())
