"""LightningModule around torchvision's Mask R-CNN: losses, optimizer, COCO validation."""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics.detection import MeanAveragePrecision

from balloon_shapes.engine.schedule import lr_factor
from balloon_shapes.errors import ConfigError, TrainingDiverged
from balloon_shapes.modeling import build_model

METRIC_KEYS = {  # our name -> torchmetrics (pycocotools) name
    f"{t}_{ours}": f"{t}_{theirs}"
    for t in ("bbox", "segm")
    for ours, theirs in (("AP", "map"), ("AP50", "map_50"), ("AP75", "map_75"))
}


def to_metric_preds(outputs: list[dict], mask_threshold: float = 0.5) -> list[dict]:
    """torchvision outputs (soft masks [N,1,H,W]) -> torchmetrics inputs (bool masks [N,H,W])."""
    return [
        {
            "boxes": o["boxes"],
            "scores": o["scores"],
            "labels": o["labels"],
            "masks": o["masks"][:, 0] > mask_threshold,
        }
        for o in outputs
    ]


def to_metric_targets(targets: list[dict]) -> list[dict]:
    return [
        {"boxes": t["boxes"], "labels": t["labels"], "masks": t["masks"].bool()} for t in targets
    ]


class MaskRCNNModule(L.LightningModule):
    """Trains and validates the model described by the full config ``cfg``."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = build_model(cfg.model)
        self.val_map = MeanAveragePrecision(iou_type=("bbox", "segm"))
        self.train_seconds = 0.0  # training time, validation excluded (time-to-quality)
        self._tic = 0.0
        self.history: list[dict] = []
        self.save_hyperparameters({"cfg": OmegaConf.to_container(cfg, resolve=True)})

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        self._tic = time.perf_counter()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, targets = batch
        losses = self.model(images, targets)
        loss = sum(losses.values())
        if not math.isfinite(loss.item()):
            lr = self.optimizers().param_groups[0]["lr"]
            raise TrainingDiverged(
                f"loss became {loss.item()} at iteration {self.global_step} (lr {lr:.3g}); "
                "lower train.lr or raise train.warmup_iters"
            )
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, batch_size=len(images))
        self.log("loss", loss, prog_bar=True, batch_size=len(images))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._tic

    def validation_step(self, batch, batch_idx: int) -> None:
        images, targets = batch
        outputs = self.model(images)
        self.val_map.update(to_metric_preds(outputs), to_metric_targets(targets))

    def on_validation_epoch_end(self) -> None:
        result = self.val_map.compute()
        self.val_map.reset()
        metrics = {ours: float(result[theirs]) for ours, theirs in METRIC_KEYS.items()}
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
        sched = LambdaLR(opt, lambda step: lr_factor(step, t))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def state_dict_extra(self) -> dict:
        return {"train_seconds": self.train_seconds, "history": self.history}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["balloon_shapes"] = self.state_dict_extra()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        extra = checkpoint.get("balloon_shapes", {})
        self.train_seconds = extra.get("train_seconds", 0.0)
        self.history = list(extra.get("history", []))
