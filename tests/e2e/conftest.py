"""Runs shared by the end-to-end tests."""

import pytest

from tests.conftest import run_in_process


@pytest.fixture(scope="session")
def evaluated(script, tmp_path_factory):
    """eval.py (compare mode) on an exported COCO-json set with a 30-iteration checkpoint:
    (output folder, process). Shared by the checks below and the browser test."""
    tmp_path = tmp_path_factory.mktemp("eval_e2e")
    # the checkpoint and the dataset in this process (their scripts have their own tests);
    # eval.py, the script under test, in its own
    code, _, err = run_in_process("train.py", "+experiment=smoke", f"output_dir={tmp_path / 'run'}")
    assert code == 0, err[-2000:]
    data = tmp_path / "coco"
    assert run_in_process("export_shapes.py", str(data), "--n", "6", "--size", "64")[0] == 0
    out = tmp_path / "eval"
    proc = script(
        "eval.py",
        "+experiment=smoke",
        "data=coco_json",
        f"data.json_file={data}/annotations.json",
        f"data.image_root={data}",
        "data.num_classes=4",
        "model.roi.score_thresh=0.0",
        "score_thresh=0.05",
        f"model.weights={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}",
        "eval.grayscale=compare",
        f"output_dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc
