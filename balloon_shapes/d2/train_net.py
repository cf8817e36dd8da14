"""``scripts/d2_train_net.py``'s body: Detectron2's ``train_net`` on our datasets, with the
project's contract: a user's mistake is one line (exit 2), every weights file is read by our
restricted loader, and a machine without a GPU trains on the CPU, saying so."""

from __future__ import annotations

import torch
from detectron2.config import CfgNode
from detectron2.engine import default_setup

from balloon_shapes.d2.checkpointer import SafeCheckpointer
from balloon_shapes.d2.datasets import register_in_detectron2
from balloon_shapes.d2.trainer import Trainer, loader_args
from balloon_shapes.d2.yacs_config import load_cfg
from balloon_shapes.errors import ConfigError


def setup(args) -> CfgNode:
    """The checked config (yacs file, then ``KEY VALUE`` pairs), on the CPU when no GPU is."""
    cfg = load_cfg(args.config_file, args.opts)
    if not torch.cuda.is_available():
        if args.num_gpus > 1:
            raise ConfigError(f"--num-gpus {args.num_gpus}: this machine has no GPU")
        if cfg.MODEL.DEVICE.startswith("cuda"):
            print("d2_train_net: no GPU here, training on the CPU (MODEL.DEVICE cpu)")
            cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def main(args) -> dict | None:
    """Train (or ``--eval-only`` evaluate ``MODEL.WEIGHTS``) as Detectron2's train_net does."""
    cfg = setup(args)
    default_setup(cfg, args)
    register_in_detectron2(loader_args(cfg))
    if args.eval_only:
        model = Trainer.build_model(cfg)
        checkpointer = SafeCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
