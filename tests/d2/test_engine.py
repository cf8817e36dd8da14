"""model.engine=detectron2: DefaultPredictor behind our predictor, eval.py and the demos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import run_in_process
from tests.d2.conftest import WHY

pytest.importorskip("detectron2", reason=WHY)

from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.engine import DefaultPredictor  # noqa: E402
from detectron2.modeling import build_model as build_d2_model  # noqa: E402

from balloon_shapes.config import load_config  # noqa: E402
from balloon_shapes.data import shapes  # noqa: E402
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.model_loader import load_model  # noqa: E402
from tests.d2.conftest import tiny_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def d2_model(tmp_path_factory):
    """A tiny Detectron2 Mask R-CNN with seeded random weights: its yacs file and .pth."""
    out = tmp_path_factory.mktemp("d2model")
    cfg = tiny_cfg("shapes_train", str(out))
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    torch.manual_seed(0)
    model = build_d2_model(cfg)
    DetectionCheckpointer(model, save_dir=str(out)).save("model")
    (out / "config.yaml").write_text(cfg.dump())
    cfg.MODEL.WEIGHTS = str(out / "model.pth")
    return out, cfg


def overrides(out: Path) -> list[str]:
    return [
        "+experiment=smoke",
        "model.engine=detectron2",
        f"model.d2_config={out / 'config.yaml'}",
        f"model.weights={out / 'model.pth'}",
    ]


def test_our_predictor_gives_defaultpredictors_instances(d2_model):
    out, cfg = d2_model
    image = shapes.render(0, 5, shapes.ShapesSpec(height=80, width=120))[0]  # resized inside
    want = DefaultPredictor(cfg)(image[:, :, ::-1].copy())["instances"]
    model, names = load_model(load_config(overrides(out)))
    got = Predictor(model, names, score_thresh=0.0, mask_thresh=0.5, device="cpu", amp=False)(image)
    assert len(got) == len(want) > 0
    assert np.allclose(got.boxes, want.pred_boxes.tensor.numpy(), atol=1e-4)
    assert np.allclose(got.scores, want.scores.numpy(), atol=1e-6)
    assert np.array_equal(got.labels, want.pred_classes.numpy() + 1)
    wanted = want.pred_masks.numpy()  # NHWC convolutions here: a boundary pixel may flip
    inter = (got.masks & wanted).sum((1, 2))
    union = np.maximum((got.masks | wanted).sum((1, 2)), 1)
    assert (inter / union)[wanted.any((1, 2))].min() >= 0.98


def test_engine_needs_a_config_and_detectron2_names_it(d2_model):
    from balloon_shapes.errors import ConfigError
    from balloon_shapes.model_loader import build_inference_model

    cfg = load_config(["+experiment=smoke", "model.engine=detectron2"]).model
    with pytest.raises(ConfigError, match="model.d2_config"):
        build_inference_model(cfg)
    with pytest.raises(ConfigError, match="no-such.yaml: no such yacs file"):
        missing = load_config([*overrides(d2_model[0]), "model.d2_config=no-such.yaml"])
        build_inference_model(missing.model)


@pytest.mark.slow
def test_eval_and_image_demo_run_a_detectron2_model(d2_model, tmp_path):
    out, _ = d2_model
    run = [sys.executable, str(ROOT / "scripts" / "eval.py"), *overrides(out)]
    proc = subprocess.run(
        [*run, "data.val_size=3", f"output_dir={tmp_path / 'eval'}"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["images"] == 3 and 0.0 <= metrics["voc_mAP50"] <= 1.0
    image = tmp_path / "in.png"
    import cv2

    cv2.imwrite(str(image), shapes.render(0, 1)[0][:, :, ::-1])
    # the demos in this process (eval.py above is the subprocess run of this engine)
    code, _, err = run_in_process("image_demo.py", *overrides(out), f"input={image}",
                                  f"output={tmp_path / 'demo'}", "score_thresh=0.0")  # fmt: skip
    assert code == 0, err[-3000:]
    assert (tmp_path / "demo" / "in.png").stat().st_size > 0
    from tests.demo.test_video import write_clip

    write_clip(tmp_path / "clip.mp4", n=4)
    clip, splash = tmp_path / "clip.mp4", tmp_path / "splash.mp4"
    code, _, err = run_in_process(
        "video_demo.py", *overrides(out), f"input={clip}", f"output={splash}"
    )
    assert code == 0, err[-3000:]
    assert (tmp_path / "splash.mp4").stat().st_size > 0
