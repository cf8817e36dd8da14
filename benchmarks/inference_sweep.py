"""Which value of one inference knob does a trained checkpoint want? COCO AP for each value,
chosen on a tuning set the fixed val set never sees, then reported on that val set.

    python benchmarks/inference_sweep.py outputs/shapes/checkpoints/best.ckpt +experiment=shapes \
        --key model.roi.nms_thresh --values 0.4 0.5 0.6 0.7
    python benchmarks/inference_sweep.py --smoke        # random weights, 4 images, to see it run

The tuning set is the shapes val generator with another seed (``--tune``, default
``data.val_args.seed=1``): the same kind of images as the fixed val set (seed 0), none of them.
Picking a threshold on the val set itself would report a figure tuned on its own test.
"""

from __future__ import annotations

import argparse
import sys

from balloon_shapes.cli import guarded
from balloon_shapes.commands.evaluate import coco_metrics
from balloon_shapes.config import load_config


def ap(overrides: list[str]) -> dict[str, float]:
    """segm and bbox AP50 / AP of the model and data that ``overrides`` name."""
    m = coco_metrics(load_config(overrides))
    return {"segm AP50": m["segm"]["AP50"], "segm AP": m["segm"]["AP"],
            "bbox AP50": m["bbox"]["AP50"]}  # fmt: skip


def main(weights: str | None, key: str, values: list[str], tune: str, overrides: list[str]) -> int:
    base = [*overrides] + ([f"model.weights={weights}"] if weights else [])
    rows = []
    for value in values:
        tuned = ap([*base, tune, f"{key}={value}"])
        rows.append((value, tuned))
        print(f"{key}={value}: tuning set ({tune}) " +
              "  ".join(f"{k} {v:.4f}" for k, v in tuned.items()), flush=True)  # fmt: skip
    best = max(rows, key=lambda r: r[1]["segm AP50"])[0]
    print(f"\nchosen on the tuning set: {key}={best}; on the fixed val set:")
    for value in dict.fromkeys([values[0], best]):
        got = ap([*base, f"{key}={value}"])
        print(f"  {key}={value}: " + "  ".join(f"{k} {v:.4f}" for k, v in got.items()))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", help="a checkpoint (.ckpt) to evaluate")
    parser.add_argument("overrides", nargs="*", help="config overrides (+experiment=shapes)")
    parser.add_argument("--key", default="model.roi.nms_thresh", help="the knob to sweep")
    parser.add_argument("--values", nargs="+", default=["0.5", "0.6", "0.7"],
                        help="its values; the first is the baseline")  # fmt: skip
    parser.add_argument("--tune", default="data.val_args.seed=1", help="the tuning set")
    parser.add_argument("--smoke", action="store_true", help="+experiment=smoke, random weights")
    args = parser.parse_args()
    if not (args.smoke or args.weights):
        parser.error("name a checkpoint (or --smoke)")
    overrides = ["+experiment=smoke", "data.val_size=4"] if args.smoke else args.overrides
    weights = None if args.smoke else args.weights
    sys.exit(guarded(lambda: main(weights, args.key, args.values, args.tune, overrides)))
