"""Run a model on images and draw the result.

python scripts/image_demo.py input=photos/ model.weights=outputs/balloon/checkpoints/best.ckpt
python scripts/image_demo.py input=photo.jpg grayscale=true model.weights=...
python scripts/image_demo.py input=photo.jpg mode=splash model.weights=...
"""

from __future__ import annotations

import sys

from balloon_shapes.cli import run_main
from balloon_shapes.demo.image_demo import run_images

if __name__ == "__main__":
    sys.exit(run_main(run_images, sys.argv[1:], config_name="demo"))
