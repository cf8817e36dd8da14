"""Detectron2 fixtures: our datasets registered (small shapes, a VIA balloon folder) and a
tiny Detectron2 config. Imports wait until a test asks: without detectron2 the tests skip."""

from __future__ import annotations

import pytest

from tests.conftest import write_balloon_dataset

WHY = "detectron2 not installed (make installs ../shared/wheels/detectron2-*.whl if present)"
SMALL = {"height": 64, "width": 96}
ZOO_CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"


@pytest.fixture(scope="session")
def registered(tmp_path_factory):
    from balloon_shapes.d2.datasets import register_in_detectron2

    root = tmp_path_factory.mktemp("balloon")
    write_balloon_dataset(root)
    args = {
        "shapes_train": {"spec": SMALL},
        "shapes_val": {"size": 4, "spec": SMALL},
        "balloon_train": {"root": str(root)},
        "balloon_val": {"root": str(root)},
    }
    register_in_detectron2(args)
    return root


# Detectron2 keys that shrink its zoo R-50-FPN Mask R-CNN (R-18, narrow heads, 64 px) for CPU
TINY = [
    "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "",
    "MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS", "64",
    "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.ROI_HEADS.NUM_CLASSES", "4",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "MODEL.ROI_BOX_HEAD.FC_DIM", "64",
    "MODEL.ROI_MASK_HEAD.NUM_CONV", "1", "MODEL.ROI_MASK_HEAD.CONV_DIM", "32",
    "MODEL.ANCHOR_GENERATOR.SIZES", "[[16], [32], [64], [128], [256]]",
    "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "128",
    "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "128", "INPUT.MASK_FORMAT", "bitmask",
    "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "2", "SOLVER.BASE_LR", "0.001",
    "SOLVER.WARMUP_ITERS", "1", "SOLVER.CHECKPOINT_PERIOD", "100", "DATALOADER.NUM_WORKERS", "0",
]  # fmt: skip


def tiny_cfg(train: str, output_dir: str):
    """The zoo R-50-FPN config with ``TINY`` on top, training on ``train`` for 2 iterations."""
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    from balloon_shapes.d2.yacs_config import add_balloon_config

    cfg = get_cfg()
    add_balloon_config(cfg)
    cfg.merge_from_file(model_zoo.get_config_file(ZOO_CONFIG))
    cfg.merge_from_list(TINY)
    cfg.merge_from_list(["DATASETS.TRAIN", (train,), "DATASETS.TEST", (), "TEST.EVAL_PERIOD", 0])
    cfg.OUTPUT_DIR = output_dir
    return cfg
