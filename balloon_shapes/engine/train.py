"""``train(cfg) -> metrics``: the one function behind ``scripts/train.py`` (tests call it too)."""

from __future__ import annotations

import contextlib
import os

import lightning as L
import numpy as np
import torch
from filelock import FileLock, Timeout
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from balloon_shapes.data import catalog
from balloon_shapes.engine.callbacks import (
    ProgressBar,
    RNGState,
    SampleIds,
    TrainableStages,
    TrainingClock,
)
from balloon_shapes.engine.checkpoint_io import AtomicCheckpointIO
from balloon_shapes.engine.data import DataModule
from balloon_shapes.engine.module import MaskRCNNModule
from balloon_shapes.engine.run_report import write_run_report
from balloon_shapes.errors import ConfigError, OutputError, WeightsError
from balloon_shapes.evaluation.figures import pred_vs_gt_tile
from balloon_shapes.evaluation.inference import ImageDataset, compact
from balloon_shapes.evaluation.matching import compact_ground_truth
from balloon_shapes.files import check_writable, ensure_dir, set_aside, write_bytes, write_json
from balloon_shapes.modeling.precision import training_precision
from balloon_shapes.modeling.weights import load_torch_file, state_dict_of
from balloon_shapes.visualizer import grid, png_bytes


def checkpoint_dir(cfg: DictConfig) -> str:
    return os.path.join(cfg.output_dir, "checkpoints")


def resume_path(cfg: DictConfig, model: torch.nn.Module) -> str | None:
    """``last.ckpt`` when ``resume=true``: it must exist, load, and come from a run of this
    model on this dataset (another run's would be a size-mismatch traceback, or silently
    continue on other data). None when not resuming."""
    if not cfg.resume:
        return None
    path = os.path.join(checkpoint_dir(cfg), "last.ckpt")
    if not os.path.isfile(path):
        raise ConfigError(f"resume=true but {path} does not exist; run without resume first")
    try:
        obj = load_torch_file(path)  # once: a big model's last.ckpt holds its optimizer too
        state = state_dict_of(obj, path)
    except WeightsError as e:
        raise ConfigError(f"resume=true but {e}; delete it to start over") from None
    advice = "choose another output_dir, or delete it to start over"
    stored = (obj.get("hyper_parameters") or {}).get("cfg") or {}
    trained_on = (stored.get("data") or {}).get("train")
    if trained_on is not None and trained_on != cfg.data.train:
        raise ConfigError(
            f"resume=true but {path} trained on {trained_on}, not {cfg.data.train}; {advice}"
        )
    own = model.state_dict()
    differ = [k for k in own.keys() | state.keys()
              if k not in own or k not in state or own[k].shape != state[k].shape]  # fmt: skip
    if differ:
        raise ConfigError(
            f"resume=true but {path} holds another model ({len(differ)} tensors differ, e.g. "
            f"{sorted(differ)[0]}); {advice}"
        )
    return path


def run_outputs(cfg: DictConfig) -> list[str]:
    """Names a training run writes into ``output_dir``: a fresh run moves a previous run's
    aside (``files.set_aside``); a resumed one continues them."""
    loggers = [v.name for v in (cfg.loggers or {}).values() if v is not None and "name" in v]
    ranks = [n for n in os.listdir(cfg.output_dir) if n.startswith("sample_ids_rank")]
    return ["checkpoints", "metrics.json", "predictions.png", "report.html", *loggers, *ranks]


def check_config(cfg: DictConfig) -> None:
    """Values that cannot work fail here, in one line, before any folder or model exists."""
    monitors = [k for k, v in (cfg.callbacks or {}).items() if v and "LearningRate" in v._target_]
    if monitors and not any((cfg.loggers or {}).values()):
        raise ConfigError(f"callbacks.{monitors[0]} logs to a logger: keep one or set it to null")


@contextlib.contextmanager
def exclusive(output_dir: str):
    """Hold ``<output_dir>/.lock`` while training: a second run into the same folder would mix
    its logs and checkpoints with this one's, so it is refused. The OS drops the lock when the
    process dies, so a killed run never leaves the folder locked."""
    ensure_dir(output_dir, "output_dir")
    if os.environ.get("LOCAL_RANK", "0") != "0":  # DDP workers run under rank 0's lock
        yield
        return
    lock = FileLock(os.path.join(output_dir, ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OutputError(
            f"{output_dir}: another training is writing into this output_dir; "
            "wait for it to end or choose another output_dir"
        ) from None
    try:
        yield
    finally:
        lock.release()


def instantiate_all(node: DictConfig | None) -> list:
    """Objects of a ``name: {_target_: ...}`` config node; a ``null`` entry is switched off."""
    return [instantiate(v) for v in (node or {}).values() if v is not None]


def callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The config's ``callbacks`` plus those correctness needs: last.ckpt every
    ``train.checkpoint_period`` (resume), the RNG state in it, and the progress bar."""
    t = cfg.train
    out = [
        *instantiate_all(cfg.callbacks),
        ModelCheckpoint(
            dirpath=checkpoint_dir(cfg),
            save_last=True,
            save_top_k=0,
            every_n_train_steps=t.checkpoint_period,
            enable_version_counter=False,
        ),
        TrainingClock(),
        RNGState(),
        ProgressBar(t.max_seconds),
    ]
    if t.log_sample_ids:
        out.append(SampleIds(cfg.output_dir))
    if t.stages:
        out.append(TrainableStages(OmegaConf.to_container(t.stages, resolve=True)))
    return out


def make_trainer(cfg: DictConfig) -> L.Trainer:
    t, options = cfg.train, OmegaConf.to_container(cfg.trainer, resolve=True)
    options["precision"] = training_precision(options["precision"], options["accelerator"])
    return L.Trainer(
        **options,
        max_steps=t.max_iter,
        max_epochs=-1,
        val_check_interval=min(t.eval_period, t.max_iter),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        gradient_clip_val=t.clip_grad_norm,
        log_every_n_steps=t.log_period,
        default_root_dir=cfg.output_dir,
        logger=instantiate_all(cfg.loggers) or False,
        callbacks=callbacks(cfg),
        plugins=[AtomicCheckpointIO()],
        enable_model_summary=False,
    )


@torch.no_grad()
def draw_predictions(model: torch.nn.Module, records, names: list[str], cfg: DictConfig) -> bytes:
    """A PNG grid of the first ``train.vis_images`` val images, ground truth beside predicted
    masks, boxes, classes and scores (``score_thresh``, ``model.mask_thresh``, ``tile_size``)."""
    model.eval()
    tiles = []
    shown = records[: cfg.train.vis_images]
    for record, (image, image_id) in zip(shown, ImageDataset(shown)):
        pred = compact(model([image])[0], image_id, cfg.model.mask_thresh)
        rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        gt = compact_ground_truth(record)
        tiles.append(pred_vs_gt_tile(rgb, pred, gt, names, cfg.score_thresh, cfg.tile_size))
    return png_bytes(grid(tiles, cols=2))


def train(cfg: DictConfig) -> dict:
    """Train per ``cfg``, validate, write checkpoints, logs, metrics.json and predictions.png."""
    check_config(cfg)
    for split in ("train", "val"):
        catalog.metadata(cfg.data[split])  # unknown dataset names fail here, before any work
    names = catalog.class_names(cfg.data)  # and a dataset without classes
    check_writable(cfg.output_dir, "output_dir")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = DataModule(cfg.data, cfg.train.batch_size, cfg.seed)
    data.setup("fit")  # dataset errors surface now, before the model or any output exists
    module = MaskRCNNModule(cfg)  # and weights errors (offline, unsafe, not fitting)
    with exclusive(cfg.output_dir):
        ckpt = resume_path(cfg, module.model)
        if not cfg.resume and os.environ.get("LOCAL_RANK", "0") == "0":
            aside = set_aside(cfg.output_dir, run_outputs(cfg))
            if aside:
                print(f"{cfg.output_dir} held a previous run: moved to {aside}")
        return fit(cfg, data, module, ckpt, names)


def fit(
    cfg: DictConfig, data: DataModule, module: MaskRCNNModule, ckpt: str | None, names: list[str]
) -> dict:
    """The training run itself, in a checked and locked ``output_dir``."""
    trainer = make_trainer(cfg)
    if cfg.train.stages and trainer.world_size > 1:
        raise ConfigError(
            "train.stages with several devices is not supported (DDP fixes the "
            "trainable set at start); use one device or train.stages=[]"
        )
    trainer.fit(module, datamodule=data, ckpt_path=ckpt)
    if not module.history or module.history[-1]["iter"] != trainer.global_step:
        trainer.validate(module, datamodule=data, verbose=False)
    metrics = {**module.history[-1], "history": module.history}
    if trainer.is_global_zero:
        picture = draw_predictions(module.model, data.val_records, names, cfg)
        write_json(os.path.join(cfg.output_dir, "metrics.json"), metrics)
        write_bytes(os.path.join(cfg.output_dir, "predictions.png"), picture)
        print(f"report: {write_run_report(cfg, metrics)}")
    return metrics
