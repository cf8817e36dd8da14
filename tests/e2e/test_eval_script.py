import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_eval_on_an_exported_coco_dataset_with_a_trained_checkpoint(evaluated):
    out, proc = evaluated
    metrics = json.loads((out / "metrics.json").read_text())
    for mode in ("rgb", "gray"):
        assert {"AP", "AP50", "APs", "per_class_AP"} <= set(metrics[mode]["segm"])
        assert 0 <= metrics[mode]["voc_mAP50"] <= 1
    results = json.loads((out / "coco_instances_results.json").read_text())
    assert results and {"image_id", "category_id", "bbox", "score", "segmentation"} <= set(
        results[0]
    )
    for name in (
        "pr_curves.png",
        "worst_images.png",
        "pr_curves_gray.png",
        "coco_instances_results_gray.json",
        "errors.png",
        "report.html",
    ):
        assert (out / name).stat().st_size > 0, name
    assert "VOC-style" in proc.stdout and "recall by luminance contrast" in proc.stdout
    assert "errors (TIDE-style" in proc.stdout and "confusion matrix" in proc.stdout
    rows = metrics["robustness"]["recall_by_contrast"]
    assert sum(r["objects"] for r in rows) > 0
    errors = metrics["errors"]
    assert set(errors["breakdown"]["counts"]) == {"cls", "loc", "both", "dupe", "bkg", "miss"}
    n_objects = sum(r["objects"] for r in errors["per_class"])
    confusion = errors["confusion"]
    assert sum(map(sum, confusion[:-1])) == n_objects  # every object in one cell of its row
    assert errors["breakdown"]["AP50"] == pytest.approx(metrics["rgb"]["segm"]["AP50"], abs=1e-6)


def test_default_coco_eval_offline_fails_in_one_line(quick_script, tmp_path):
    proc = quick_script(
        "eval.py",
        env={"BALLOON_SHAPES_DATA": str(tmp_path), "BALLOON_SHAPES_OFFLINE": "1"},
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and "instances_val2017.json" in lines[0]
        and "download.py coco-val" in lines[0]
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("eval.grayscale=sepia", "eval.grayscale='sepia'"),
        ("data.val_size=0", "data.val_size=0"),
        ("inference.batch_size=0", "inference.batch_size=0"),
    ],
)
def test_eval_config_mistakes_fail_in_one_line_before_inference(
    quick_script, tmp_path, override, message
):
    proc = quick_script(
        "eval.py", "+experiment=smoke", override, f"output_dir={tmp_path / 'e'}", timeout=120
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "e").exists()


def test_eval_output_dir_under_a_file_fails_before_inference(quick_script, tmp_path):
    (tmp_path / "f").write_text("x")
    proc = quick_script(
        "eval.py", "+experiment=smoke", f"output_dir={tmp_path / 'f' / 'e'}", timeout=120
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "is a file" in lines[0], proc.stderr
