"""Compose the Hydra config from ``configs/`` and a list of overrides (no decorator in the way)."""

from __future__ import annotations

import functools
import math
import os
from typing import NamedTuple

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from balloon_shapes.errors import ConfigError, first_line

OmegaConf.register_new_resolver("len", lambda x: len(x), replace=True)

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


@functools.cache
def yaml_node(path: str) -> DictConfig:
    """One file under ``configs/`` as written (uninterpolated): the dataset modules read their
    defaults from it, so the yaml stays the one place a default is set."""
    return OmegaConf.load(os.path.join(CONFIG_DIR, path))


RENAMED = {  # key -> its name now: an old command line gets the new name, not "no such key"
    **{k: f"inference.{k}" for k in ("device", "amp", "batch_size")},  # the demos'
    **{f"eval.{k}": f"inference.{k}" for k in ("device", "amp", "batch_size", "num_workers")},
}


def check_renamed(overrides: list[str]) -> None:
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in RENAMED:
            raise ConfigError(f"{key}: renamed to {RENAMED[key]} ({override!r})")


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    """The composed config; unknown or mistyped keys raise ``ConfigError`` here, before any work.
    ``cfg._overrides`` keeps the overrides: what a checkpoint's own config must not replace."""
    check_renamed(list(overrides or []))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        try:  # only composing: an OmegaConf error later in the code is a bug, not the user's
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
            reference = compose(config_name=config_name)
            check_types(cfg, reference)
            check_ranges(cfg)
        except (HydraException, OmegaConfBaseException) as e:
            raise ConfigError(first_line(e)) from e
    with open_dict(cfg):
        cfg._overrides = list(overrides or [])
    return cfg


def leaves(node, prefix: str = ""):
    """(dotted key, value) of every leaf of a plain nested dict."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], node


AUTO_SWITCHES = ("amp",)  # true | false | auto keys: auto lets the hardware decide


def check_types(cfg: DictConfig, reference: DictConfig) -> None:
    """Numbers must stay numbers: ``train.batch_size=many`` fails now, naming the key."""
    ref = dict(leaves(OmegaConf.to_container(reference, resolve=True)))
    for key, value in leaves(OmegaConf.to_container(cfg, resolve=True)):
        default = ref.get(key)
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float, type(None)))):
            raise ConfigError(f"{key}={value!r}: expected a number like {default!r}")
        auto = value == "auto" and key.rsplit(".", 1)[-1] in AUTO_SWITCHES
        if isinstance(default, bool) and not isinstance(value, bool) and not auto:
            expected = "true, false or auto" if key.rsplit(".", 1)[-1] in AUTO_SWITCHES else ""
            raise ConfigError(f"{key}={value!r}: expected {expected or 'true or false'}")


class Range(NamedTuple):
    """The values a numeric key accepts: ``low <= v`` (``low < v`` when ``open_low``),
    ``v <= high``; ``null`` only where ``nullable``."""

    low: float
    high: float = math.inf
    nullable: bool = False
    open_low: bool = False

    def admits(self, value) -> bool:
        if value is None:
            return self.nullable
        above = value > self.low if self.open_low else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        low = f"{'more than' if self.open_low else 'at least'} {self.low:g}"
        text = low if self.high == math.inf else f"between {self.low:g} and {self.high:g}"
        return text + (" (or null)" if self.nullable else "")


COUNT, SOME, FRACTION = Range(1), Range(0), Range(0, 1)
RANGES: dict[str, Range] = {  # keys a config lacks are skipped; checked before any work
    "every_n": COUNT,  # demos and export
    "max_frames": Range(1, nullable=True),
    "calib_size": COUNT,
    "score_thresh": SOME,  # above 1: nothing drawn
    "same_object_iou": FRACTION,  # 1: no two detections are one object
    "reid.max_distance": FRACTION,  # Bhattacharyya: 0 only identical colors re-identify
    "reid.memory_s": SOME,
    "reid.bins": Range(1, 256),
    "tile_size": Range(16),
    "tolerance": SOME,  # annotate: polygon simplification in pixels (0: every edge vertex)
    "top": SOME,
    "train.max_iter": COUNT,
    "train.max_seconds": Range(0, nullable=True, open_low=True),
    "train.batch_size": COUNT,
    "train.lr": Range(0, open_low=True),
    "train.momentum": FRACTION,
    "train.weight_decay": SOME,
    "train.warmup_iters": SOME,
    "train.warmup_factor": Range(0, 1, open_low=True),
    "train.gamma": Range(0, open_low=True),
    "train.clip_grad_norm": Range(0, nullable=True, open_low=True),
    "train.eval_period": COUNT,
    "train.checkpoint_period": COUNT,
    "train.log_period": COUNT,
    "train.vis_images": SOME,
    "inference.batch_size": COUNT,
    "inference.num_workers": SOME,
    "eval.worst_images": SOME,
    "eval.report_images": Range(0, nullable=True),
    "data.num_workers": SOME,
    "data.val_size": Range(1, nullable=True),
    "data.limit": Range(1, nullable=True),
    "data.augment.hflip": FRACTION,
    "data.augment.grayscale": FRACTION,
    "model.mask_thresh": FRACTION,
    "model.roi.score_thresh": FRACTION,
    "model.roi.nms_thresh": FRACTION,
    "model.mask_head.class_weight": FRACTION,
    "model.roi.detections_per_img": COUNT,
    "model.min_size": COUNT,
    "model.max_size": COUNT,
}


def check_ranges(cfg: DictConfig) -> None:
    """Every key in ``RANGES`` that the config has holds a value in range, or ``ConfigError``."""
    for key in RANGES:
        value = OmegaConf.select(cfg, key, default="<absent>")
        if not (isinstance(value, str) and value == "<absent>"):
            check_value(key, value)


def check_value(key: str, value) -> None:
    """``value`` for the ranged ``key`` (a ``RANGES`` entry), or ``ConfigError`` naming both."""
    allowed = RANGES[key]
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (value is None or numeric) or not allowed.admits(value):
        raise ConfigError(f"{key}={value!r}: must be {allowed.describe()}")
