"""LightningModule around torchvision's Mask R-CNN: losses, optimizer, and validation with
the same COCO evaluator as ``eval.py``."""

from __future__ import annotations

import math

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LambdaLR

from balloon_shapes.engine.schedule import lr_factor
from balloon_shapes.errors import ConfigError, TrainingDiverged
from balloon_shapes.evaluation.coco_evaluation import COCOEvaluator
from balloon_shapes.modeling import build_model

METRICS = tuple(f"{t}_{k}" for t in ("bbox", "segm") for k in ("AP", "AP50", "AP75"))
LOSSES = (
    "loss_classifier",
    "loss_box_reg",
    "loss_mask",
    "loss_objectness",
    "loss_rpn_box_reg",
    "loss_mask_class",
)  # the last only with model.mask_head.class_head


def check_loss_weights(weights: DictConfig) -> None:
    """``train.loss_weights`` names the model's losses (torchvision's five, ours), each >= 0."""
    unknown = sorted(set(weights) - set(LOSSES))
    if unknown:
        raise ConfigError(f"train.loss_weights.{unknown[0]}: no such loss ({', '.join(LOSSES)})")
    missing = [name for name in LOSSES if name not in weights]
    if missing:
        raise ConfigError(f"train.loss_weights.{missing[0]}: missing (1.0 weighs it as usual)")
    for name, w in weights.items():
        if not (isinstance(w, (int, float)) and w >= 0):
            raise ConfigError(f"train.loss_weights.{name}={w!r}: expected a number >= 0")


class MaskRCNNModule(L.LightningModule):
    """Trains and validates the model described by the full config ``cfg``."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        check_loss_weights(cfg.train.loss_weights)  # before the model or any output exists
        self.cfg = cfg
        self.model = build_model(cfg.model)
        self.evaluator: COCOEvaluator | None = None  # built on the first validation
        self.train_seconds = 0.0  # training time, validation excluded (time-to-quality)
        self.history: list[dict] = []
        self.save_hyperparameters({"cfg": OmegaConf.to_container(cfg, resolve=True)})

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, targets = batch
        losses = self.model(images, targets)
        weights = self.cfg.train.loss_weights
        loss = sum(weights[k] * v for k, v in losses.items())
        if not math.isfinite(loss.item()):
            lr = self.optimizers().param_groups[0]["lr"]
            raise TrainingDiverged(
                f"loss became {loss.item()} at iteration {self.global_step} (lr {lr:.3g}); "
                "lower train.lr or raise train.warmup_iters"
            )
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, batch_size=len(images))
        self.log("loss", loss, prog_bar=True, batch_size=len(images))
        return loss

    def check_budget(self) -> None:
        """Stop once ``train.max_seconds`` of training are spent (``callbacks.TrainingClock``
        keeps ``train_seconds``)."""
        if self.cfg.train.max_seconds is None:
            return
        # Every rank follows rank 0's clock: one lr schedule and one last step for all.
        self.train_seconds = self.trainer.strategy.broadcast(self.train_seconds)
        if self.train_seconds >= self.cfg.train.max_seconds:
            self.trainer.should_stop = True  # Lightning validates once more, then stops

    def on_validation_epoch_start(self) -> None:
        if self.evaluator is None:
            cfg, records = self.cfg, self.trainer.datamodule.val_records
            self.evaluator = COCOEvaluator(
                cfg.data, records, cfg.model.mask_thresh, cfg.eval.backend
            )
        self.evaluator.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        images, image_ids = batch  # no ground truth here: the evaluator holds it
        # fp32 whatever the training precision: validation measures as eval.py does
        with torch.autocast(self.device.type, enabled=False):
            self.evaluator.process(image_ids, self.model(images))

    def on_validation_epoch_end(self) -> None:
        result = self.evaluator.evaluate()
        metrics = {m: result[m[:4]][m[5:]] for m in METRICS}
        self.log_dict({f"val/{k}": v for k, v in metrics.items()}, sync_dist=False)
        self.history.append(
            {"iter": self.global_step, "train_seconds": round(self.train_seconds, 1), **metrics}
        )

    def configure_optimizers(self):
        t = self.cfg.train
        params = list(self.model.parameters())  # frozen ones get no grad and are skipped
        if t.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
        elif t.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
        else:
            raise ConfigError(f"train.optimizer={t.optimizer!r}: expected sgd or adamw")
        sched = LambdaLR(opt, lambda step: lr_factor(step, t, self.train_seconds))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def state_dict_extra(self) -> dict:
        return {"train_seconds": self.train_seconds, "history": self.history}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["balloon_shapes"] = self.state_dict_extra()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        extra = checkpoint.get("balloon_shapes", {})
        self.train_seconds = extra.get("train_seconds", 0.0)
        self.history = list(extra.get("history", []))
