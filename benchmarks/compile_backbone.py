"""Does ``torch.compile`` of the backbone pay in `make train`? Times training steps of its
model, eager then compiled (inductor), on its own training batches, in one process.

    python benchmarks/compile_backbone.py [--steps 25] [hydra overrides...]

The compile happens in the first compiled step, which is printed apart: in a time-budgeted
run (``train.max_seconds``) it is paid out of the budget. A second run finds the graphs in
inductor's on-disk cache, so only the first run on a machine shows a cold compile.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.data.mapper import Augment
from balloon_shapes.engine.data import TrainStream
from balloon_shapes.modeling import build_model


def step_seconds(compiled: bool, steps: int, overrides: list[str]) -> list[float]:
    """Seconds of each SGD step (forward, backward, update) from a fresh seeded model."""
    cfg = load_config(["+experiment=shapes", *overrides])
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).train()
    if compiled:
        model.backbone = torch.compile(model.backbone)
    records = catalog.load_records(cfg.data, "train", required=True)
    stream = TrainStream(
        records, cfg.train.batch_size, Augment(**cfg.data.augment), cfg.seed, False
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    out = []
    for step in range(steps):
        images, targets = stream.batch(step)
        tic = time.perf_counter()
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(time.perf_counter() - tic)
    return out


def main(steps: int, overrides: list[str]) -> None:
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {steps} steps each")  # fmt: skip
    medians = {}
    for compiled in (False, True):
        times = step_seconds(compiled, steps, overrides)
        medians[compiled] = statistics.median(times[1:])
        name = "compiled" if compiled else "eager"
        print(f"{name:>9}: first step {times[0]:.1f} s, then median {medians[compiled]:.3f} s/step")
    print(f"compiled / eager time per step: {medians[True] / medians[False]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.batch_size=4")
    args = parser.parse_args()
    main(args.steps, args.overrides)
