"""Pre-annotation at the model's pace? annotate.py against eval.py's inference, same model.

    python benchmarks/annotate_speed.py --weights outputs/shapes/checkpoints/best.ckpt
    python benchmarks/annotate_speed.py --weights model.xml --images 50    # an export, INT8 too
    python benchmarks/annotate_speed.py --weights ... --stream 10000       # memory, big folder

Writes the first ``--images`` shapes val images as PNG files, then times, on those files and
in this one process: eval.py's inference loop (``evaluation.inference.predict``: decode, model,
masks to RLE) and the whole of ``scripts/annotate.py`` (decode, model, outlines, project writes),
and the outline extraction alone on the same instances. ``--stream N`` then annotates a folder
of N generated images in a child process and reports its peak RSS at N/10 and at N images.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

from balloon_shapes.config import load_config
from balloon_shapes.data import shapes
from balloon_shapes.demo.annotate import regions_of, run_annotate
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.evaluation.inference import InferenceSettings, predict
from balloon_shapes.files import write_image
from balloon_shapes.model_loader import load_model


def write_images(folder: str, n: int, size: int = 128) -> list[dict]:
    spec = shapes.ShapesSpec(height=size, width=size)
    records = []
    for i in range(n):
        record = shapes.to_record(0, i, spec)
        path = os.path.join(folder, f"{i:06d}.png")
        write_image(path, record.pop("image"))
        records.append({**record, "file_name": path})
    return records


def overrides(args, folder: str) -> list[str]:
    return [f"input={folder}", f"model.weights={args.weights}", "device=cpu", "batch_size=1"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(args) -> None:
    with tempfile.TemporaryDirectory() as folder:
        records = write_images(folder, args.images)
        cfg = load_config(overrides(args, folder), "annotate")
        model, names = load_model(cfg)
        settings = InferenceSettings(cfg.model.mask_thresh, 1, 0, "cpu", cfg.amp)
        predict(model, records[:2], settings, desc="warm-up")
        t_eval = timed(lambda: predict(model, records, settings, desc="eval inference"))
        t_annotate = len(records) / run_annotate(cfg)["images_per_s"]  # its loop: no loading
        predictor = Predictor.from_config(cfg, model, names)
        found = [predictor(r["file_name"]) for r in records]
        notes = Counter()
        t_outline = timed(lambda: [regions_of(inst, names, cfg, notes) for inst in found])
    n = len(records)
    print(f"\n{n} images of {args.weights}, one process, 1 image per pass:")
    print(f"  eval.py inference   {n / t_eval:7.1f} images/s")
    print(
        f"  annotate.py (all)   {n / t_annotate:7.1f} images/s  ({t_annotate / t_eval:.2f}x eval)"
    )
    print(
        f"  outlines alone      {n / t_outline:7.1f} images/s  "
        f"({t_outline / t_annotate:.1%} of annotate's time)"
    )


def stream(args) -> None:
    """Peak RSS of annotate.py over a folder of ``--stream`` images, at a tenth and at all."""
    with tempfile.TemporaryDirectory() as folder:
        write_images(folder, args.stream, size=64)
        for n in (args.stream // 10, args.stream):
            sub = os.path.join(folder, f"first{n}")
            os.makedirs(sub)
            for name in sorted(os.listdir(folder))[:n]:
                if name.endswith(".png"):
                    os.link(os.path.join(folder, name), os.path.join(sub, name))
            code = (
                "import resource,sys;from balloon_shapes.cli import run_main;"
                "from balloon_shapes.demo.annotate import run_annotate;"
                f"run_main(run_annotate,{overrides(args, sub)!r},config_name='annotate');"
                "print('peak_rss_mb',resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            peak = [line for line in out.stdout.splitlines() if line.startswith("peak_rss_mb")]
            print(f"  {n:>6} images: peak RSS {float(peak[-1].split()[1]):.0f} MiB" if peak
                  else out.stderr[-2000:])  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="outputs/shapes/checkpoints/best.ckpt")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--stream", type=int, default=0, help="also: peak RSS over N images")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.stream = 4, 20 if args.stream else 0
        args.weights = "null"  # the untrained default model: checks the script, not the model
    compare(args)
    if args.stream:
        print(f"\nmemory over a folder of {args.stream} generated 64x64 images:")
        stream(args)
