"""Training step time, fp32 against bf16 autocast: `make train`'s model on its own training
batches, the two precisions alternated in one process, medians.

    python benchmarks/train_precision.py [--weights CKPT] [--steps 10] [hydra overrides...]

Early steps of a fresh model have few positive RoIs, so give ``--weights`` (a `make train`
checkpoint: its batches' mix is the run's). The learning rate is 0, so the weights stay put and
both precisions time the same model; bf16 only pays on CPUs with bf16 units (AMX, AVX512-BF16).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from balloon_shapes.cli import guarded
from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.data.mapper import Augment
from balloon_shapes.engine.data import TrainStream
from balloon_shapes.modeling import build_model
from balloon_shapes.modeling.precision import BF16_UNITS, cpu_flags, cpu_model


def step_seconds(model, opt, batch, bf16: bool) -> float:
    """One SGD step (forward, backward, update), under bf16 autocast or not."""
    tic = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = sum(model(*batch).values())
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - tic


def main(weights: str | None, steps: int, overrides: list[str]) -> int:
    cfg = load_config(["+experiment=shapes", f"model.weights={weights or 'null'}", *overrides])
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).train()  # loads and checks the checkpoint
    records = catalog.load_records(cfg.data, "train", required=True)
    stream = TrainStream(
        records, cfg.train.batch_size, Augment(**cfg.data.augment), cfg.seed, False
    )
    batches = [stream.batch(i) for i in range(steps + 2)]
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    units = ", ".join(sorted(BF16_UNITS & cpu_flags())) or "none"
    threads, batch = torch.get_num_threads(), cfg.train.batch_size
    print(f"{cpu_model()}, bf16 units: {units}, torch {torch.__version__}, {threads} threads, "
          f"batch {batch}, {steps} steps")  # fmt: skip
    times: dict[bool, list[float]] = {False: [], True: []}
    for bf16 in (False, True):  # a warm-up step each
        step_seconds(model, opt, batches[0], bf16)
    for batch in batches[2:]:
        for bf16 in (False, True):
            times[bf16].append(step_seconds(model, opt, batch, bf16))
    fp32, bf16 = (statistics.median(times[k]) for k in (False, True))
    print(f"fp32 {fp32:.3f} s/step, bf16 autocast {bf16:.3f} s/step: bf16 {fp32 / bf16:.2f}x")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a make train checkpoint (default: a fresh model)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.batch_size=4")
    args = parser.parse_args()
    sys.exit(guarded(lambda: main(args.weights, args.steps, args.overrides)))
