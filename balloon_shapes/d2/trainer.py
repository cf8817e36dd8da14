"""A Detectron2 ``DefaultTrainer`` for our datasets, in the style of Detectron2's
``projects/*/train_net.py``: our evaluators next to COCO's, and the classic Mask R-CNN
fine-tuning schedule (heads first, then all layers) as a hook.

    python scripts/d2_train_net.py --config-file configs/detectron2/balloon_R101_FPN.yaml
"""

from __future__ import annotations

import os

from detectron2.config import CfgNode
from detectron2.engine import DefaultTrainer, HookBase
from detectron2.evaluation import COCOEvaluator, DatasetEvaluators

from balloon_shapes.config import yaml_node
from balloon_shapes.d2.checkpointer import SafeCheckpointer
from balloon_shapes.d2.evaluators import VOCStyleEvaluator


def loader_args(cfg: CfgNode) -> dict[str, dict]:
    """The catalog loaders' arguments from the ``BALLOON_SHAPES`` keys (unset: our yaml's)."""
    b = cfg.BALLOON_SHAPES
    via = {"root": b.DATA_ROOT or yaml_node("data/balloon.yaml").root}
    via.update({"classes": list(b.VIA_CLASSES)} if b.VIA_CLASSES else {})
    via.update({"class_key": b.VIA_CLASS_KEY} if b.VIA_CLASS_KEY else {})
    spec = {"height": b.SHAPES_HW[0], "width": b.SHAPES_HW[1]} if b.SHAPES_HW else {}
    val = {"spec": spec, **({"size": b.SHAPES_VAL_IMAGES} if b.SHAPES_VAL_IMAGES else {})}
    coco = {"json_file": b.COCO_JSON, "image_root": b.COCO_IMAGE_ROOT} if b.COCO_JSON else {}
    return {
        **{f"{name}_{split}": via for name in ("balloon", "via") for split in ("train", "val")},
        "shapes_train": {"spec": spec},
        "shapes_val": val,
        "coco_json": coco,
    }


class HeadsThenAll(HookBase):
    """Backbone (ResNet) frozen for the first ``until`` iterations, then trained: the Keras
    Mask R-CNN recipe. Layers Detectron2 keeps frozen (``FREEZE_AT``) stay frozen."""

    def __init__(self, until: int) -> None:
        self.until, self.params = until, []

    def before_train(self) -> None:
        model = getattr(self.trainer.model, "module", self.trainer.model)  # DDP wraps it
        bottom_up = model.backbone.bottom_up
        self.params = [p for p in bottom_up.parameters() if p.requires_grad]
        self.set(self.trainer.iter >= self.until)

    def before_step(self) -> None:
        if self.trainer.iter == self.until:
            self.set(True)

    def set(self, trainable: bool) -> None:
        for p in self.params:
            p.requires_grad_(trainable)


class Trainer(DefaultTrainer):
    """Detectron2's trainer with our evaluators, schedule hook and restricted weights loading."""

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__(cfg)
        old = self.checkpointer  # its hook keeps saving with it; loading goes through ours
        self.checkpointer = SafeCheckpointer(old.model, old.save_dir, **old.checkpointables)

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None):
        folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
        return DatasetEvaluators(
            [COCOEvaluator(dataset_name, output_dir=folder), VOCStyleEvaluator(dataset_name)]
        )

    def build_hooks(self) -> list:
        hooks = super().build_hooks()
        until = self.cfg.BALLOON_SHAPES.HEADS_ONLY_ITERS
        return [HeadsThenAll(until), *hooks] if until > 0 else hooks
