"""``train.max_seconds`` under DDP: the ranks' clocks differ, yet every rank must take the
same lr and stop at the same step (one stopping alone would hang the others' all-reduce)."""

from __future__ import annotations

from time import perf_counter
from types import SimpleNamespace

import pytest

from tests.distributed import on_two_processes


def budget_check(rank: int) -> dict:
    """One ``TrainingClock.on_train_batch_end`` on a rank whose clock says 9 s (rank 0) or
    11 s (rank 1) of a 10 s budget, with Lightning's own DDP strategy doing the broadcast."""
    from lightning.pytorch.strategies import DDPStrategy

    from balloon_shapes.config import load_config
    from balloon_shapes.engine.callbacks import TrainingClock
    from balloon_shapes.engine.module import MaskRCNNModule

    module = MaskRCNNModule(load_config(["+experiment=smoke", "train.max_seconds=10"]))
    module.trainer = SimpleNamespace(strategy=DDPStrategy(), should_stop=False)
    module.train_seconds = 9.0 if rank == 0 else 11.0
    clock = TrainingClock()
    clock.tic = perf_counter()
    clock.on_train_batch_end(module.trainer, module, None, None, 0)
    return {"seconds": module.train_seconds, "stop": module.trainer.should_stop}


@pytest.mark.slow
def test_every_rank_follows_rank_0s_clock(tmp_path):
    rank0, rank1 = on_two_processes(budget_check, tmp_path)
    assert rank0["stop"] is rank1["stop"] is False  # rank 0 has 1 s left, so all go on
    assert rank0["seconds"] == rank1["seconds"] == pytest.approx(9.0, abs=0.5)
