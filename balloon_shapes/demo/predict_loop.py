"""Image files -> per-image results over Lightning's predict loop, spread over ``trainer.devices``
and nodes as training is (Lightning shards the files; no hand-made pool).

Each rank appends its results to its own part file beside the output as each batch ends
(written through; synced to disk every few seconds and at the end), so a killed run keeps what
it finished: ``read_parts`` gives them back to the next run, and rank 0 merges them once every
rank is done.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from balloon_shapes.data.mapper import ImageReadError
from balloon_shapes.demo.predictor import Predictor, prepare_image
from balloon_shapes.engine.callbacks import ProgressBar
from balloon_shapes.evaluation.inference import images_per_pass, loader_workers
from balloon_shapes.files import fsync_file

# (predictor, paths, images, instances) -> one json-ready result per image
Handler = Callable[[Predictor, list, list, list], list[dict]]


class ImageFiles(Dataset):
    """Item ``i``: (path, the image the model sees or None, why it could not be read)."""

    def __init__(self, paths: list[str], prepare: Callable) -> None:
        self.paths, self.prepare = paths, prepare

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return self.paths[i], self.prepare(self.paths[i]), None
        except ImageReadError as e:  # one bad photo in a folder of thousands: listed, not fatal
            return self.paths[i], None, str(e)


class PredictModule(L.LightningModule):
    """Runs a ``Predictor`` built on the rank's device, then ``handle`` on each batch."""

    def __init__(self, model: torch.nn.Module, make: Callable[..., Predictor], handle: Handler):
        super().__init__()
        self.model, self.make, self.handle = model, make, handle
        self.predictor: Predictor | None = None

    def on_predict_start(self) -> None:
        self.predictor = self.make(self.model, str(self.device))

    def predict_step(self, batch, batch_idx: int) -> list[dict]:
        readable = [(p, im) for p, im, err in batch if err is None]
        images = [im for _, im in readable]
        found = self.predictor.infer(images)
        results = self.handle(self.predictor, [p for p, _ in readable], images, found)
        return results + [{"path": p, "error": err} for p, _, err in batch if err is not None]


def part_path(output: str, rank: int) -> str:
    folder, name = os.path.split(os.path.abspath(output))
    return os.path.join(folder, f".{name}.part{rank}.jsonl")


def part_files(output: str) -> list[str]:
    folder, name = os.path.split(os.path.abspath(output))
    prefix = f".{name}.part"
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith(prefix))


def read_parts(output: str) -> list[dict]:
    """Every result the part files hold (a last line cut short by a kill is left out)."""
    results = []
    for file in part_files(output):
        with open(file, encoding="utf-8") as f:
            for line in f:
                try:
                    results.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # the line a killed run was writing
    return results


def ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def remove_parts(output: str) -> None:
    for file in part_files(output):
        os.remove(file)


class PartWriter(BasePredictionWriter):
    """Appends each batch's results to the rank's part file: written through at every batch
    (a killed process loses nothing), synced to disk every ``SYNC_SECONDS`` and at the end
    (an fsync per image cost a third of the speed of small images)."""

    SYNC_SECONDS = 10.0

    def __init__(self, output: str) -> None:
        super().__init__(write_interval="batch")
        self.output, self.synced = output, time.monotonic()

    def on_predict_end(self, trainer, pl_module) -> None:
        path = part_path(self.output, trainer.global_rank)
        if os.path.exists(path):
            fsync_file(path)

    def write_on_batch_end(self, trainer, pl_module, prediction, *_args) -> None:
        path = part_path(self.output, trainer.global_rank)
        with open(path, "a+", encoding="utf-8") as f:
            if f.tell() and not ends_with_newline(path):
                f.write("\n")  # after the line a killed run left unfinished
            f.writelines(json.dumps(r) + "\n" for r in prediction)
            f.flush()
            if time.monotonic() - self.synced > self.SYNC_SECONDS:
                os.fsync(f.fileno())
                self.synced = time.monotonic()


def run_predict(
    cfg: DictConfig,
    model: torch.nn.Module,
    paths: list[str],
    make: Callable[..., Predictor],
    handle: Handler,
    output: str,
) -> int:
    """Predict ``paths`` on ``cfg.trainer``'s devices into ``output``'s part files; every rank
    returns once all are done, with its global rank."""
    options = OmegaConf.to_container(cfg.trainer, resolve=True)
    if isinstance(options["devices"], int) and len(paths) < options["devices"]:
        # Lightning's predict sampler gives every rank at least one item or fails
        options.update(devices=1, strategy="auto")
    trainer = L.Trainer(
        **options,
        logger=False,
        callbacks=[PartWriter(output), ProgressBar()],  # training's bar: tqdm, not rich
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=os.path.dirname(os.path.abspath(output)),
    )
    loader = DataLoader(
        ImageFiles(paths, functools.partial(prepare_image, grayscale=cfg.grayscale)),
        batch_size=images_per_pass(trainer.strategy.root_device, cfg.inference.batch_size),
        num_workers=loader_workers(model, cfg.inference.num_workers),
        collate_fn=list,
    )
    trainer.predict(PredictModule(model, make, handle), loader, return_predictions=False)
    trainer.strategy.barrier()
    return trainer.global_rank
