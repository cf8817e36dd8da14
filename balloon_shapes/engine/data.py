"""Data loading for training and validation: deterministic, resumable, DDP-sharded.

The training batch at global step ``s`` on rank ``r`` is a pure function of
``(seed, s, r)``: resuming at step ``s`` continues the exact stream, and ranks never
share a sample. Workers each produce whole batches, interleaved in step order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from balloon_shapes.data import catalog
from balloon_shapes.data.mapper import Augment, map_record
from balloon_shapes.evaluation.inference import ImageDataset

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]


def sample_index(g: int, n: int, seed: int, shuffle: bool) -> int:
    """Record index of global sample ``g``: an epoch-wise permutation of ``n``, or ``g % n``."""
    if not shuffle:
        return g % n
    epoch, k = divmod(g, n)
    return int(np.random.default_rng([seed, epoch]).permutation(n)[k])


@dataclass(frozen=True)
class Shard:
    """Where a stream starts and whose share it is: resume step, DDP rank and world size."""

    start_step: int = 0
    rank: int = 0
    world_size: int = 1


class TrainStream(IterableDataset):
    """Endless stream of training batches starting at ``shard.start_step`` for one DDP rank."""

    def __init__(
        self,
        records: Sequence[dict],
        batch_size: int,
        augment: Augment,
        seed: int,
        shuffle: bool,
        shard: Shard = Shard(),
    ) -> None:
        self.records, self.batch_size, self.augment = records, batch_size, augment
        self.seed, self.shuffle = seed, shuffle
        self.start_step, self.rank, self.world_size = shard.start_step, shard.rank, shard.world_size

    def global_ids(self, step: int) -> list[int]:
        """Global sample numbers of this rank's batch at ``step``."""
        first = (step * self.world_size + self.rank) * self.batch_size
        return list(range(first, first + self.batch_size))

    def batch(self, step: int) -> Batch:
        """The batch for ``step``; augmentation randomness is seeded by the sample number."""
        images, targets = [], []
        for g in self.global_ids(step):
            record = self.records[sample_index(g, len(self.records), self.seed, self.shuffle)]
            image, target = map_record(record, self.augment, np.random.default_rng([self.seed, g]))
            images.append(image)
            targets.append(target)
        return images, targets

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        step = self.start_step + worker
        while True:
            yield self.batch(step)
            step += workers


def collate(items: list[tuple]) -> tuple[list, list]:
    """Detection batches are lists: images differ in size (val items: image, image_id)."""
    return [i[0] for i in items], [i[1] for i in items]


class DataModule(L.LightningDataModule):
    """Train stream + val loader from the ``data`` and ``train`` configs."""

    def __init__(self, data_cfg: DictConfig, batch_size: int, seed: int) -> None:
        super().__init__()
        self.cfg, self.batch_size, self.seed = data_cfg, batch_size, seed
        self.train_records: Sequence[dict] | None = None
        self.val_records: Sequence[dict] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_records is None and stage in (None, "fit"):
            self.train_records = catalog.load_records(self.cfg, "train", required=True)
        if self.val_records is None:
            self.val_records = catalog.load_records(self.cfg, "val", required=True)

    def _loader(self, dataset, **kwargs) -> DataLoader:
        workers = self.cfg.num_workers
        # An explicit generator keeps loaders from drawing on the global RNG, which the
        # model's samplers use: this is what makes resumed runs bit-identical.
        return DataLoader(
            dataset,
            num_workers=workers,
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=False,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        stream = TrainStream(
            self.train_records,
            self.batch_size,
            Augment(**self.cfg.augment),
            self.seed,
            self.cfg.shuffle,
            Shard(trainer.global_step, trainer.global_rank, trainer.world_size)
            if trainer
            else Shard(),
        )
        return self._loader(stream, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self._loader(
            ImageDataset(self.val_records), batch_size=self.batch_size, collate_fn=collate
        )
