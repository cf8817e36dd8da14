"""Shared script entry: compose the config, run, and report the outcome in the exit code.

A ``UserError`` (bad input, config or output path) prints one line and exits 2. Anything else
is a bug in this project: its traceback is shown with a line saying so, and the exit code is 1.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable

from omegaconf import DictConfig

from balloon_shapes.errors import TrainingDiverged, UserError, first_line

EXIT_BUG = 1
EXIT_USER_ERROR = 2
BUG_LINE = (
    "error: this is a bug in balloon-shapes, not in your input; "
    "please report it with the traceback above"
)


# Libraries that log progress at INFO (NNCF: hundreds of lines per INT8 export; Lightning's
# start-up banners): WARNING and above only, unless BALLOON_SHAPES_DEBUG=1.
CHATTY = ("nncf", "lightning.pytorch", "lightning.fabric", "openvino", "torch", "hydra")


def quiet_libraries() -> None:
    """Third-party loggers at WARNING unless debugging: a tool prints its own few lines."""
    if not debugging():
        for name in CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)


def debugging() -> bool:
    """``BALLOON_SHAPES_DEBUG=1`` re-raises user errors with their traceback and lets libraries
    log at INFO (for developers)."""
    return os.environ.get("BALLOON_SHAPES_DEBUG") == "1"


def report(e: BaseException) -> int:
    """Print ``e`` the way its kind deserves; the exit code."""
    if isinstance(e, UserError):
        print(f"error: {first_line(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    if isinstance(e, TrainingDiverged):
        print(f"error: training diverged: {e}", file=sys.stderr)
        return EXIT_BUG
    traceback.print_exception(e)
    print(BUG_LINE, file=sys.stderr)
    return EXIT_BUG


def guarded(fn: Callable[[], int]) -> int:
    """Run a script body; errors become an exit code (``report``), Ctrl-C propagates."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - every kind is reported, bugs with their traceback
        if debugging() and isinstance(e, UserError):
            raise
        return report(e)


def usage(config_name: str) -> str:
    """``--help``: the script's docstring and where its keys live."""
    doc = (getattr(sys.modules.get("__main__"), "__doc__", None) or "").strip()
    return (
        f"{doc}\n\nArguments are Hydra overrides (key=value, +experiment=NAME). Primary config: "
        f"configs/{config_name}.yaml; every key and its default: configs/base.yaml."
    ).strip()


def run_main(
    fn: Callable[[DictConfig], dict], overrides: list[str], config_name: str = "config"
) -> int:
    """Compose the config from ``overrides``, call ``fn(cfg)``, print its metrics; exit code."""
    from balloon_shapes.config import load_config

    if {"-h", "--help"} & set(overrides):
        print(usage(config_name))
        return 0

    quiet_libraries()

    def body() -> int:
        result = fn(load_config(overrides, config_name))
        from lightning.pytorch.utilities import rank_zero_only

        if rank_zero_only.rank == 0:  # DDP: every rank returns the metrics, one prints them
            flat = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
            print(json.dumps(flat))
        return 0

    return guarded(body)
