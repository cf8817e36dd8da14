"""Evaluate Mask R-CNN: COCO AP (pycocotools) and the VOC-style per-image mAP@0.5.

python scripts/eval.py                          # COCO val2017, Detectron2 R101-FPN weights
python scripts/eval.py data.limit=500           # a quick subset
python scripts/eval.py +experiment=shapes model.weights=outputs/shapes/checkpoints/best.ckpt
python scripts/eval.py ... eval.grayscale=compare   # RGB vs grayscale robustness
"""

from __future__ import annotations

import sys

from balloon_shapes.cli import run_main
from balloon_shapes.commands.evaluate import evaluate

if __name__ == "__main__":
    sys.exit(run_main(evaluate, sys.argv[1:], config_name="eval"))  # configs/eval.yaml
