"""Train Mask R-CNN: ``python scripts/train.py +experiment=shapes [key=value ...]``."""

from __future__ import annotations

import sys

from balloon_shapes.cli import run_main
from balloon_shapes.engine.train import train

if __name__ == "__main__":
    sys.exit(run_main(train, sys.argv[1:]))
