import json
import os
import pickle
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_balloon_experiment_trains_on_generated_via_data(quick_script, balloon_root, tmp_path):
    out = tmp_path / "out"
    proc = quick_script(
        "train.py",
        "+experiment=balloon",
        f"data.root={balloon_root}",
        "model.weights=null",
        "model.backbone=resnet18",
        "model.min_size=128",  # the balloon experiment's 800-1333 px: the config is under test
        "model.max_size=256",
        "train.max_iter=2",
        f"output_dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["iter"] == 2 and {"bbox_AP50", "segm_AP50"} <= set(metrics)
    assert (out / "predictions.png").exists()


def test_named_weights_offline_fail_in_one_line_before_any_work(
    quick_script, balloon_root, tmp_path
):
    env = {"BALLOON_SHAPES_OFFLINE": "1", "BALLOON_SHAPES_CACHE": str(tmp_path / "cache")}
    proc = quick_script(
        "train.py",
        "+experiment=balloon",
        f"data.root={balloon_root}",
        f"output_dir={tmp_path / 'o'}",
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model_final_a3ec72.pkl" in lines[0] and "put it at" in lines[0]
    assert not (tmp_path / "o").exists()


class Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pkl_weights_are_refused_in_one_line(quick_script, balloon_root, tmp_path):
    evil = tmp_path / "model_final.pkl"
    evil.write_bytes(pickle.dumps({"model": {"x": Evil(tmp_path / "pwned")}}))
    proc = quick_script(
        "train.py",
        "+experiment=balloon",
        f"data.root={balloon_root}",
        f"model.weights={evil}",
        f"output_dir={tmp_path / 'o'}",
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refuses" in lines[0] and str(evil) in lines[0]
    assert not (tmp_path / "pwned").exists()


def test_missing_dataset_says_how_to_get_it(quick_script, tmp_path):
    proc = quick_script(
        "train.py",
        "+experiment=balloon",
        f"data.root={tmp_path / 'none'}",
        "model.weights=null",
        f"output_dir={tmp_path / 'o'}",
        timeout=120,
    )
    assert proc.returncode == 2 and "download.py balloon" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
