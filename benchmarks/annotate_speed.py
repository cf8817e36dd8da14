"""Pre-annotation at the model's pace? annotate.py against eval.py's inference, same model.

    python benchmarks/annotate_speed.py --weights outputs/shapes/checkpoints/best.ckpt
    python benchmarks/annotate_speed.py --weights model.xml --images 50    # an export, INT8 too
    python benchmarks/annotate_speed.py --weights ... --stream 10000       # memory, big folder
    python benchmarks/annotate_speed.py --r101-int8 --images 20            # 640x480 photos

Writes the first ``--images`` shapes val images as PNG files, then times, on those files and
in this one process: eval.py's inference loop (``evaluation.inference.predict``: decode, model,
masks to RLE) and the whole of ``scripts/annotate.py`` (decode, model, outlines, project writes),
and the outline extraction alone on the same instances. ``--stream N`` then annotates a folder
of N generated images in a child process and reports its peak RSS at N/10 and at N images.
``--r101-int8`` runs the balloon architecture (R101-FPN, random weights spread so that 100
detections pass 0.5: a worst case for outlines) exported to OpenVINO with an INT8 backbone, as
``video_realtime.py`` does, on 640x480 images.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from unittest import mock

from balloon_shapes.config import load_config
from balloon_shapes.data import shapes
from balloon_shapes.data.mapper import read_image
from balloon_shapes.demo import annotate
from balloon_shapes.demo.annotate import project_path, regions_of
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.evaluation.inference import InferenceSettings, predict
from balloon_shapes.files import write_image
from balloon_shapes.model_loader import load_model


def write_images(folder: str, n: int, size: int = 128, width: int | None = None) -> list[dict]:
    spec = shapes.ShapesSpec(height=size, width=width or size)
    records = []
    for i in range(n):
        record = shapes.to_record(0, i, spec)
        path = os.path.join(folder, f"{i:06d}.png")
        write_image(path, record.pop("image"))
        records.append({**record, "file_name": path})
    return records


def overrides(args, folder: str) -> list[str]:
    return [f"input={folder}", f"model.weights={args.weights}", "inference.device=cpu"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(args) -> None:
    """eval.py's inference and annotate.py, alternated ``--repeats`` times (a machine's drift
    hits both); medians, and the median of the per-pair ratios."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "images")  # the model, if exported here, beside it
        os.makedirs(folder)
        records = write_images(folder, args.images, *((480, 640) if args.r101_int8 else ()))
        if args.r101_int8:
            args.weights = export_r101_int8(records[0]["file_name"], tmp)
        cfg = load_config(overrides(args, folder), "annotate")
        model, names = load_model(cfg)
        workers = cfg.data.num_workers  # the same loader workers for both
        settings = InferenceSettings(cfg.model.mask_thresh, 1, workers, "cpu", cfg.inference.amp)
        predict(model, records[:2], settings, desc="warm-up")
        t_eval, t_annotate = [], []
        for _ in range(args.repeats):
            t_eval.append(timed(lambda: predict(model, records, settings, desc="eval inference")))
            t_annotate.append(len(records) / annotate_on(model, names, cfg))
            os.remove(project_path(cfg))  # the next run annotates every image again
        predictor = Predictor.from_config(cfg, model, names)
        found = [predictor(r["file_name"]) for r in records]
        notes = Counter()
        t_outline = timed(lambda: [regions_of(inst, names, cfg, notes) for inst in found])
    n, ratio = len(records), statistics.median(a / e for a, e in zip(t_annotate, t_eval))
    e, a = statistics.median(t_eval), statistics.median(t_annotate)
    print(f"\n{n} images of {args.weights}, one process, 1 image per pass, "
          f"{workers} loader workers, medians of {args.repeats} alternated runs:")  # fmt: skip
    print(f"  eval.py inference   {n / e:7.1f} images/s")
    print(f"  annotate.py (all)   {n / a:7.1f} images/s  ({1 / ratio:.2f}x eval, median of pairs)")
    print(f"  outlines alone      {n / t_outline:7.1f} images/s  ({t_outline / a:.1%} of annotate)")


def annotate_on(model, names: list[str], cfg) -> float:
    """annotate.py's images/s (its loop: no loading) on the model eval.py's timing warmed up
    (an export compiles its bf16 runtime at its first call: seconds, once per run), with the
    score threshold the Predictor raises put back for eval."""
    heads = getattr(model, "roi_heads", model)
    saved = getattr(heads, "score_thresh", None)
    with mock.patch.object(annotate, "load_model", lambda _cfg: (model, names)):
        images_per_s = annotate.run_annotate(cfg)["images_per_s"]
    if saved is not None:
        heads.score_thresh = saved
    return images_per_s


def export_r101_int8(image: str, folder: str) -> str:
    """video_realtime.py's INT8 export of the balloon architecture, traced on ``image``."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from video_realtime import export_int8

    start = time.perf_counter()
    xml = export_int8("resnet101", read_image(image), folder)
    print(f"R101 export + INT8 calibration: {time.perf_counter() - start:.0f} s")
    return xml


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
    parser.add_argument("--repeats", type=int, default=3, help="alternated eval/annotate runs")
    parser.add_argument("--stream", type=int, default=0, help="also: peak RSS over N images")
    parser.add_argument("--r101-int8", action="store_true", help="R101 INT8 on 640x480 images")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script")
    args = parser.parse_args()
    if args.r101_int8 and args.stream:
        parser.error("--stream measures memory on --weights; run it without --r101-int8")
    if args.smoke:
        args.images, args.repeats, args.stream = 4, 1, 20 if args.stream else 0
        args.weights = "null"  # the untrained default model: checks the script, not the model
    compare(args)
    if args.stream:
        print(f"\nmemory over a folder of {args.stream} generated 64x64 images:")
        stream(args)
