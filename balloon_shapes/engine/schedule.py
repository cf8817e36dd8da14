"""Learning-rate schedule: linear warmup, then cosine or step decay. The cosine runs over
iterations, or over training seconds when ``train.max_seconds`` ends the run first."""

from __future__ import annotations

import math

from omegaconf import DictConfig

from balloon_shapes.errors import ConfigError


def progress(step: int, seconds: float, cfg: DictConfig) -> float:
    """How far through its budget a run is, 0..1: the larger of iterations over ``max_iter``
    and training seconds over ``max_seconds`` (null: iterations only), as whichever runs out
    first ends the run (``MaskRCNNModule`` stops it)."""
    done = step / max(1, cfg.max_iter)
    if cfg.max_seconds is not None:
        done = max(done, seconds / cfg.max_seconds)
    return min(1.0, done)


def lr_factor(step: int, cfg: DictConfig, seconds: float = 0.0) -> float:
    """Multiplier of ``train.lr`` at iteration ``step`` (0-based) after ``seconds`` of
    training (validation excluded)."""
    if step < cfg.warmup_iters:
        alpha = step / max(1, cfg.warmup_iters)
        warm = cfg.warmup_factor * (1 - alpha) + alpha
    else:
        warm = 1.0
    if cfg.schedule == "cosine":
        return warm * 0.5 * (1 + math.cos(math.pi * progress(step, seconds, cfg)))
    if cfg.schedule == "step":
        return warm * cfg.gamma ** sum(step >= s for s in cfg.steps)
    raise ConfigError(f"train.schedule={cfg.schedule!r}: expected cosine or step")
