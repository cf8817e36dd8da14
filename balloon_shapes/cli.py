"""Shared script entry: compose the config, run, turn user mistakes into one-line errors."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

USER_ERRORS = (HydraException, OmegaConfBaseException, ValueError, FileNotFoundError, KeyError)
EXIT_USER_ERROR = 2


def debugging() -> bool:
    """``BALLOON_SHAPES_DEBUG=1`` re-raises user errors with their traceback (for developers)."""
    import os

    return os.environ.get("BALLOON_SHAPES_DEBUG") == "1"


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (Hydra's are multi-line)."""
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def run_main(
    fn: Callable[[DictConfig], dict], overrides: list[str], config_name: str = "config"
) -> int:
    """Compose the config from ``overrides``, call ``fn(cfg)``, print its metrics; exit code."""
    from balloon_shapes.config import load_config
    from balloon_shapes.download import DownloadError
    from balloon_shapes.engine.module import TrainingDiverged

    # Lightning's start-up banners (accelerator, tips) are noise next to our one-line errors.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    try:
        cfg = load_config(overrides, config_name)
        result = fn(cfg)
    except TrainingDiverged as e:
        print(f"error: training diverged: {e}", file=sys.stderr)
        return 1
    except (*USER_ERRORS, DownloadError) as e:
        if debugging():
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank == 0:  # DDP: every rank returns the metrics, one prints them
        flat = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
        print(json.dumps(flat))
    return 0
