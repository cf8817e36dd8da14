"""Export a model for inference without torch: boxes, classes, scores and masks in one file.

python scripts/export.py model.weights=outputs/shapes/checkpoints/best.ckpt
python scripts/image_demo.py input=photos/ model.weights=outputs/export/model.onnx
python scripts/eval.py +experiment=shapes model.weights=outputs/export/model.onnx
"""

from __future__ import annotations

import sys

from balloon_shapes.cli import run_main
from balloon_shapes.commands.export import run_export

if __name__ == "__main__":
    sys.exit(run_main(run_export, sys.argv[1:], config_name="export"))
