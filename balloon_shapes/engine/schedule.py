"""Learning-rate schedule: linear warmup, then cosine or step decay (per iteration)."""

from __future__ import annotations

import math

from omegaconf import DictConfig

from balloon_shapes.errors import ConfigError


def lr_factor(step: int, cfg: DictConfig) -> float:
    """Multiplier of ``train.lr`` at iteration ``step`` (0-based)."""
    if step < cfg.warmup_iters:
        alpha = step / max(1, cfg.warmup_iters)
        warm = cfg.warmup_factor * (1 - alpha) + alpha
    else:
        warm = 1.0
    if cfg.schedule == "cosine":
        progress = min(1.0, step / max(1, cfg.max_iter))
        return warm * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "step":
        return warm * cfg.gamma ** sum(step >= s for s in cfg.steps)
    raise ConfigError(f"train.schedule={cfg.schedule!r}: expected cosine or step")
