"""Time-to-quality on shapes: train the default config and print segm AP50 at each validation.

    python benchmarks/shapes_cpu.py [--smoke] [hydra overrides...]

Training seconds exclude validation (the clock is paused while evaluating). Peak memory is
the process's max resident set size (children, i.e. data workers, counted separately).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import torch

from balloon_shapes.config import load_config
from balloon_shapes.engine.train import train


def main(experiment: str, overrides: list[str]) -> None:
    cfg = load_config([f"+experiment={experiment}", "output_dir=outputs/bench_shapes", *overrides])
    start = time.perf_counter()
    metrics = train(cfg)
    wall = time.perf_counter() - start
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"overrides: {' '.join(overrides) or '(defaults)'}")
    print(f"{'iter':>6} {'train s':>8} {'segm AP50':>9} {'segm AP':>8} {'bbox AP50':>9}")
    for h in metrics["history"]:
        print(
            f"{h['iter']:>6} {h['train_seconds']:>8.1f} {h['segm_AP50']:>9.3f} "
            f"{h['segm_AP']:>8.3f} {h['bbox_AP50']:>9.3f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"wall {wall:.0f} s (validation included); peak RSS {peak:.0f} MiB main, "
        f"{workers:.0f} MiB largest worker"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="+experiment=smoke: checks the script")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.max_iter=400")
    args = parser.parse_args()
    main("smoke" if args.smoke else "shapes", args.overrides)
