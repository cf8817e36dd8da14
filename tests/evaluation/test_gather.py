"""The COCO evaluator under DDP: two processes, each with its shard (the distributed sampler
pads one with a repeat), give the single-process AP: every image counted once."""

from __future__ import annotations

import pytest

from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.evaluation.coco_evaluation import COCOEvaluator
from tests.distributed import on_two_processes
from tests.evaluation.test_coco_eval import imperfect


def setup():
    cfg = load_config(["+experiment=smoke", "data.val_size=6"])
    records = list(catalog.load_records(cfg.data, "val"))
    return cfg, records, imperfect(records)


def metrics_of(preds_in: list[dict]) -> dict:
    cfg, records, _ = setup()
    evaluator = COCOEvaluator(cfg.data, records, 0.5, "pycocotools")
    evaluator.add(preds_in)
    m = evaluator.evaluate()
    return {t: m[t]["AP"] for t in ("bbox", "segm")} | {"n": len(evaluator.results)}


def shard(rank: int) -> dict:
    _, _, preds = setup()
    mine = preds[rank::2]
    if rank == 1:
        mine = mine + [preds[1]]  # padding: a repeat of an image rank 0 already has
    return metrics_of(mine)


@pytest.mark.slow
def test_two_processes_give_the_single_process_ap(tmp_path):
    _, _, preds = setup()
    single = metrics_of(preds)
    assert 0 < single["segm"] < 1
    ranks = on_two_processes(shard, tmp_path)
    assert ranks[0] == ranks[1] == single
