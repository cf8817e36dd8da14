"""Compose the Hydra config from ``configs/`` and a list of overrides (no decorator in the way)."""

from __future__ import annotations

import functools
import os

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


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    """The composed config; unknown or mistyped keys raise ``ConfigError`` here, before any work.
    ``cfg._overrides`` keeps the overrides: what a checkpoint's own config must not replace."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        try:  # only composing: an OmegaConf error later in the code is a bug, not the user's
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
            reference = compose(config_name=config_name)
            check_types(cfg, reference)
        except (HydraException, OmegaConfBaseException) as e:
            raise ConfigError(first_line(e)) from e
    with open_dict(cfg):
        cfg._overrides = list(overrides or [])
    return cfg


def _leaves(node, prefix: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], node


AUTO_SWITCHES = ("amp",)  # true | false | auto keys: auto lets the hardware decide


def check_types(cfg: DictConfig, reference: DictConfig) -> None:
    """Numbers must stay numbers: ``train.batch_size=many`` fails now, naming the key."""
    ref = dict(_leaves(OmegaConf.to_container(reference, resolve=True)))
    for key, value in _leaves(OmegaConf.to_container(cfg, resolve=True)):
        default = ref.get(key)
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float, type(None)))):
            raise ConfigError(f"{key}={value!r}: expected a number like {default!r}")
        auto = value == "auto" and key.rsplit(".", 1)[-1] in AUTO_SWITCHES
        if isinstance(default, bool) and not isinstance(value, bool) and not auto:
            expected = "true, false or auto" if key.rsplit(".", 1)[-1] in AUTO_SWITCHES else ""
            raise ConfigError(f"{key}={value!r}: expected {expected or 'true or false'}")
