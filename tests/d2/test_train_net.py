"""scripts/d2_train_net.py and its trainer: yacs configs over the model zoo, our evaluators in
Detectron2's test loop, the heads-then-all schedule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.d2.conftest import WHY  # noqa: E402

pytest.importorskip("detectron2", reason=WHY)

from balloon_shapes.d2.trainer import Trainer  # noqa: E402
from balloon_shapes.d2.yacs_config import load_cfg  # noqa: E402
from tests.d2.conftest import TINY, tiny_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "detectron2"


def test_our_yacs_files_sit_on_the_model_zoo_ones():
    cfg = load_cfg(str(CONFIGS / "balloon_R101_FPN.yaml"), ["SOLVER.MAX_ITER", "7"])
    assert cfg.MODEL.RESNETS.DEPTH == 101 and cfg.MODEL.MASK_ON  # from the zoo file
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1 and cfg.DATASETS.TRAIN == ("balloon_train",)
    assert cfg.BALLOON_SHAPES.HEADS_ONLY_ITERS == 200 and cfg.SOLVER.MAX_ITER == 7
    shapes = load_cfg(str(CONFIGS / "shapes_R50_FPN.yaml"), [])
    assert shapes.MODEL.RESNETS.DEPTH == 50 and shapes.INPUT.MASK_FORMAT == "bitmask"


def test_heads_then_all_freezes_the_backbone_only_until_its_iteration(registered, tmp_path):
    cfg = tiny_cfg("shapes_train", str(tmp_path))
    cfg.merge_from_list(["SOLVER.MAX_ITER", 3, "MODEL.RESNETS.NORM", "BN"])
    cfg.BALLOON_SHAPES.HEADS_ONLY_ITERS = 2
    trainer = Trainer(cfg)
    stage = dict(trainer.model.backbone.bottom_up.res5.named_parameters())
    seen = []

    def snapshot(_trainer):
        seen.append({k: v.detach().clone() for k, v in stage.items()})

    from detectron2.engine import hooks

    trainer.register_hooks([hooks.CallbackHook(after_step=snapshot)])
    before = {k: v.detach().clone() for k, v in stage.items()}
    trainer.train()
    name = "0.conv1.weight"
    assert torch.equal(seen[0][name], before[name]) and torch.equal(seen[1][name], before[name])
    assert not torch.equal(seen[2][name], before[name])  # iteration 2: all layers train
    fpn = dict(trainer.model.backbone.named_parameters())["fpn_output2.weight"]
    assert fpn.requires_grad  # heads (FPN included) trained all along


def train_net(tmp_path: Path, *extra: str, flags: tuple = ()) -> subprocess.CompletedProcess:
    args = [sys.executable, str(ROOT / "scripts" / "d2_train_net.py")]
    args += ["--config-file", str(CONFIGS / "shapes_R50_FPN.yaml"), *flags, *TINY, *extra]
    args += ["OUTPUT_DIR", str(tmp_path)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.slow
def test_train_net_trains_evaluates_and_reloads(tmp_path):
    small = ["BALLOON_SHAPES.SHAPES_HW", "(64, 96)", "BALLOON_SHAPES.SHAPES_VAL_IMAGES", "3"]
    trained = train_net(tmp_path, *small, "TEST.EVAL_PERIOD", "2")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (tmp_path / "model_final.pth").exists()
    assert "voc_style" in trained.stdout + trained.stderr
    weights = ["MODEL.WEIGHTS", str(tmp_path / "model_final.pth")]
    evaluated = train_net(tmp_path, *small, *weights, flags=("--eval-only",))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "mAP50" in evaluated.stdout + evaluated.stderr


@pytest.mark.slow
def test_train_net_trains_on_messy_via_and_coco_json(tmp_path):
    from messy_data import write_messy_via

    write_messy_via(tmp_path / "via")  # sizes, EXIF, gray, CMYK, 16-bit, negatives, ...
    via = ["DATASETS.TRAIN", "('balloon_train',)", "DATASETS.TEST", "()"]
    via += ["BALLOON_SHAPES.DATA_ROOT", str(tmp_path / "via"), "BALLOON_SHAPES.VIA_CLASS_KEY"]
    via += ["kind", "MODEL.ROI_HEADS.NUM_CLASSES", "1"]
    proc = train_net(tmp_path / "out_via", *via)
    assert proc.returncode == 0, proc.stderr[-3000:]
    export = [sys.executable, str(ROOT / "scripts" / "export_shapes.py"), str(tmp_path / "coco")]
    subprocess.run([*export, "--n", "4", "--size", "64"], check=True, cwd=ROOT)
    coco = ["DATASETS.TRAIN", "('coco_json',)", "DATASETS.TEST", "()"]
    coco += ["BALLOON_SHAPES.COCO_JSON", str(tmp_path / "coco" / "annotations.json")]
    coco += ["BALLOON_SHAPES.COCO_IMAGE_ROOT", str(tmp_path / "coco")]
    proc = train_net(tmp_path / "out_coco", *coco)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out_coco" / "model_final.pth").exists()
