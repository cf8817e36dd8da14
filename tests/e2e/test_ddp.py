import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(script, tmp_path):
    """Lightning DDP (gloo) with 2 CPU processes: ranks shard the stream, rank 0 writes once."""
    proc = script(
        "train.py",
        "+experiment=smoke",
        f"output_dir={tmp_path}",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "train.max_iter=3",
        "train.log_sample_ids=true",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = json.loads((tmp_path / "sample_ids_rank0.json").read_text())
    rank1 = json.loads((tmp_path / "sample_ids_rank1.json").read_text())
    assert len(rank0) == len(rank1) == 3 * 2  # 3 steps x batch 2 on each rank
    assert set(rank0).isdisjoint(rank1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "best.ckpt",
        "last.ckpt",
    ]
    assert [p.name for p in tmp_path.rglob("metrics.json")] == ["metrics.json"]
    assert json.loads((tmp_path / "metrics.json").read_text())["iter"] == 3
    assert proc.stdout.count('"iter": 3') == 1  # the summary is printed once, by rank 0
