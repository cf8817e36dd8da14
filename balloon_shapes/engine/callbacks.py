"""Lightning callbacks: the training clock, RNG state in checkpoints (exact resume), DDP
sample-id audit, progress bar, trainable stages."""

from __future__ import annotations

import json
import os
import random
from time import perf_counter

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import TQDMProgressBar


class RNGState(L.Callback):
    """Saves the global RNGs with every checkpoint and restores them on the first resumed step.

    Restoring at the first train batch (not at load time) skips the draws Lightning makes
    while it sets up, so a resumed run replays the uninterrupted run's random numbers.
    """

    def __init__(self) -> None:
        self.pending: dict | None = None

    def state_dict(self) -> dict:
        # Tensors and plain tuples only, so checkpoints load with torch.load(weights_only=True).
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
            "python": random.getstate(),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.pending = state_dict

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.pending is None:
            return
        torch.set_rng_state(self.pending["torch"])
        kind, keys, pos, has_gauss, gauss = self.pending["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        random.setstate(self.pending["python"])
        self.pending = None


class TrainingClock(L.Callback):
    """Adds each training step's seconds (validation excluded) to ``pl_module.train_seconds``
    and applies ``train.max_seconds``. A callback, not a module hook: Lightning calls callbacks
    first and checkpoint callbacks last, so ``last.ckpt`` holds the time of the step it saves,
    and a resumed run whose budget is spent takes no further step."""

    def __init__(self) -> None:
        self.tic = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        pl_module.check_budget()  # after a resume restored train_seconds

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.tic = perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        pl_module.train_seconds += perf_counter() - self.tic
        pl_module.check_budget()


class SampleIds(L.Callback):
    """Records the image ids each rank trained on, to ``<dir>/sample_ids_rank<r>.json``."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir, self.ids = out_dir, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.ids.extend(int(t["image_id"]) for t in batch[1])

    def on_train_end(self, trainer, pl_module) -> None:
        path = os.path.join(self.out_dir, f"sample_ids_rank{trainer.global_rank}.json")
        with open(path, "w") as f:
            json.dump(self.ids, f)


class ProgressBar(TQDMProgressBar):
    """Lightning's bar without the logger version number (``v_num``): loss and it/s, and the
    training seconds left when ``train.max_seconds`` may end the run before ``max_iter``."""

    def __init__(self, max_seconds: float | None = None) -> None:
        super().__init__()
        self.max_seconds = max_seconds

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        if self.max_seconds is not None:
            metrics["left"] = f"{max(0.0, self.max_seconds - pl_module.train_seconds):.0f}s"
        return metrics


class TrainableStages(L.Callback):
    """Switch ``model.trainable`` at iteration boundaries: ``[{until, trainable}, ...]``.

    The optimizer holds every parameter; frozen ones get no gradient, so SGD/AdamW skip them
    until their stage unfreezes them. The stage is a function of the step, so resume is exact.
    """

    def __init__(self, stages: list[dict]) -> None:
        self.stages = sorted(stages, key=lambda s: s["until"])
        self.current: str | None = None

    def trainable_at(self, step: int) -> str:
        for stage in self.stages:
            if step < stage["until"]:
                return str(stage["trainable"])
        return str(self.stages[-1]["trainable"])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        from balloon_shapes.modeling.build import set_trainable

        wanted = self.trainable_at(trainer.global_step)
        if wanted != self.current:
            set_trainable(pl_module.model, wanted)
            self.current = wanted
