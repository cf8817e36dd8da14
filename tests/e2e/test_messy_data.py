"""train, eval, image_demo and --check end to end on a VIA dataset that looks like real data:
mixed sizes (the val set's differ, which once crashed predictions.png), EXIF rotation, gray,
CMYK, RGBA, 16-bit, palette, non-ASCII names, negatives, an unknown class, every shape."""

import json
import subprocess
import sys

import pytest
from messy_data import truncate, write_messy_via

# random weights, slim backbone, small inputs: the data path is what is under test
FAST = [
    "+experiment=balloon",
    "model.weights=null",
    "model.backbone=resnet18",
    "model.min_size=128",
    "model.max_size=256",
    "data.class_key=kind",
    "data.num_workers=0",
    "train.max_iter=2",
    "train.eval_period=2",
    "train.checkpoint_period=1",
    "train.stages=[]",
]


@pytest.fixture(scope="module")
def messy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy") / "data"
    write_messy_via(root)
    return root


@pytest.mark.slow
def test_train_eval_and_demo_on_messy_data(quick_script, messy_root, tmp_path):
    run = tmp_path / "run"
    proc = quick_script("train.py", *FAST, f"data.root={messy_root}", f"output_dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["iter"] == 2
    assert (run / "predictions.png").stat().st_size > 0
    ckpt = run / "checkpoints" / "last.ckpt"

    out = tmp_path / "eval"
    proc = quick_script(
        "eval.py", *FAST, f"data.root={messy_root}", f"model.weights={ckpt}", f"output_dir={out}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "voc_mAP50" in json.dumps(json.loads((out / "metrics.json").read_text()))

    demo = tmp_path / "demo"
    proc = quick_script(
        "image_demo.py",
        f"input={messy_root / 'train'}",
        f"model.weights={ckpt}",
        f"output={demo}",
        "score_thresh=0.0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(p.name for p in demo.iterdir())
    assert "tall_ü€.png" in written and "sideways.jpg" in written and len(written) == 10


def test_check_on_messy_data_reports_a_truncated_image(messy_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(messy_root, root)
    cmd = [
        sys.executable,
        "-m",
        "balloon_shapes.data.balloon",
        "--check",
        str(root),
        "--class-key",
        "kind",
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "10 images (2 without regions)" in ok.stdout, ok.stderr
    truncate(root / "train" / "cmyk.jpg")
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 2 and "cmyk.jpg" in bad.stdout and "1 errors" in bad.stdout


def test_training_on_a_truncated_image_fails_in_one_line_before_any_output(
    quick_script, messy_root, tmp_path
):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(messy_root, root)
    truncate(root / "val" / "val wide.jpg")
    out = tmp_path / "run"
    proc = quick_script("train.py", *FAST, f"data.root={root}", f"output_dir={out}")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and "val wide.jpg" in errors[0] and "truncated" in errors[0]
    assert not out.exists()
