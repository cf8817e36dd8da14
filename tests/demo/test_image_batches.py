"""The image demo's loop: one image per pass on a CPU."""

import cv2
import numpy as np

from balloon_shapes.config import load_config
from balloon_shapes.demo import image_demo
from balloon_shapes.demo.predictor import Predictor


def test_a_cpu_runs_one_image_per_pass_whatever_batch_size_says(
    tmp_path, smoke_checkpoint, monkeypatch
):
    """inference.batch_size (base.yaml) is a GPU's: on a CPU a batch is slower per image (eval.py's
    ``images_per_pass``)."""
    for i, shape in enumerate([(48, 64, 3), (30, 20, 3), (64, 64)]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full(shape, 40 * i, np.uint8))
    cfg = load_config(
        [f"input={tmp_path}", f"model.weights={smoke_checkpoint}", f"output={tmp_path}/out"],
        "demo",
    )
    assert cfg.inference.batch_size > 1 and cfg.inference.device == "auto"
    sizes, real = [], Predictor.infer

    def infer(self, images):
        sizes.append(len(images))
        return real(self, images)

    monkeypatch.setattr(Predictor, "infer", infer)
    assert image_demo.run_images(cfg)["images"] == 3
    assert sizes == [1, 1, 1]
