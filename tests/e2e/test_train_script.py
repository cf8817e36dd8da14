import json

import pytest


@pytest.mark.slow
def test_train_script_on_the_shapes_experiment(script, tmp_path):
    proc = script(
        "train.py",
        "+experiment=shapes",
        "train.max_iter=3",
        "data.val_size=4",
        f"output_dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["iter"] == 3
    assert {"bbox_AP", "bbox_AP50", "segm_AP", "segm_AP50"} <= set(metrics)
    assert json.loads(proc.stdout.strip().splitlines()[-1])["iter"] == 3


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.max_itr=3", "train.max_itr"),
        ("+experiment=nope", "experiment"),
        ("data.train=shapes_trian", "shapes_trian"),
        ("model.backbone=resnet7", "resnet7"),
        ("train.batch_size=many", "batch_size"),
    ],
)
def test_user_mistakes_fail_in_one_line(tmp_path, override, expected):
    from tests.conftest import run_in_process

    code, _, err = run_in_process(
        "train.py", "+experiment=smoke", f"output_dir={tmp_path}", override
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error:") and expected in lines[0], err
    assert not (tmp_path / "metrics.json").exists()


def test_resume_without_a_checkpoint_is_a_clear_error(quick_script, tmp_path):
    proc = quick_script(
        "train.py", "+experiment=smoke", f"output_dir={tmp_path}", "resume=true", timeout=120
    )
    assert proc.returncode == 2 and "last.ckpt" in proc.stderr and "Traceback" not in proc.stderr


def test_divergence_stops_with_advice(script, tmp_path):
    proc = script(
        "train.py",
        "+experiment=smoke",
        f"output_dir={tmp_path}",
        "train.lr=1e8",
        "train.max_iter=6",
        "train.warmup_iters=0",
        "train.clip_grad_norm=null",
        "train.eval_period=6",
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "training diverged" in last and "lower train.lr" in last
    assert "Traceback" not in proc.stderr and not (tmp_path / "metrics.json").exists()


def test_debug_env_shows_the_traceback(script, tmp_path):
    env = {"BALLOON_SHAPES_DEBUG": "1"}
    proc = script(
        "train.py",
        "+experiment=smoke",
        f"output_dir={tmp_path}",
        "train.max_itr=3",
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr
