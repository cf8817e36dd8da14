"""The COCO evaluator's protocol (reset/process/add/evaluate) in one process, and the ground
truth it builds: each step checked against pycocotools on the same predictions."""

import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.data.coco_writer import coco_dict
from balloon_shapes.evaluation.coco_evaluation import (
    COCOEvaluator,
    coco_ground_truth,
    coco_metrics,
    ground_truth,
    results_json,
)
from tests.evaluation.test_coco_eval import NAMES, direct, imperfect


@pytest.fixture(scope="module")
def shapes():
    cfg = load_config(["+experiment=smoke", "data.val_size=6"])
    return cfg, list(catalog.load_records(cfg.data, "val"))


def test_batches_add_up_and_reset_starts_over(shapes, tmp_path):
    cfg, records = shapes
    preds = imperfect(records)
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(coco_dict(records, NAMES, with_files=False)))
    expected = direct(gt_json, results_json(preds, [1, 2, 3, 4]), "segm")[0]
    evaluator = COCOEvaluator(cfg.data, records, 0.5, "pycocotools")
    assert evaluator.results == []  # nothing evaluated yet
    evaluator.add(preds[:3])
    evaluator.add(preds[3:])  # a second batch adds to the first
    m = evaluator.evaluate()
    assert 0 < expected < 1 and m["segm"]["AP"] == pytest.approx(expected, abs=1e-12)
    assert len(evaluator.results) == sum(len(p["scores"]) for p in preds)
    # coco_instances_results.json's entries: pycocotools' loadRes wrote into its own copies
    assert {frozenset(r) for r in evaluator.results} == {
        frozenset({"image_id", "category_id", "bbox", "score", "segmentation"})
    }
    assert evaluator.evals["segm"].params.iouType == "segm"  # the report's PR curves read it
    evaluator.reset()
    evaluator.add(preds[:1])
    assert evaluator.evaluate()["segm"]["AP"] != m["segm"]["AP"]


def test_process_thresholds_soft_masks_at_mask_thresh(shapes):
    """Model outputs (soft masks) become the same results as their compact form."""
    cfg, records = shapes
    preds = imperfect(records)
    outputs = []
    for p in preds:
        hard = np.stack([mask_utils.decode(r) for r in p["masks"]]).astype(np.float32)
        outputs.append({
            "boxes": torch.as_tensor(p["boxes"], dtype=torch.float32),
            "scores": torch.as_tensor(p["scores"], dtype=torch.float32),
            "labels": torch.as_tensor(p["labels"]),
            "masks": torch.from_numpy(hard * 0.7 + 0.2)[:, None],  # 0.9 inside, 0.2 outside
        })  # fmt: skip
    by_outputs = COCOEvaluator(cfg.data, records, 0.5, "pycocotools")
    ids = [r["image_id"] for r in records]
    by_outputs.process(ids[:2], outputs[:2])
    by_outputs.process(ids[2:], outputs[2:])  # batches add up
    compact = COCOEvaluator(cfg.data, records, 0.5, "pycocotools")
    compact.add(preds)
    assert by_outputs.evaluate()["segm"]["AP"] == compact.evaluate()["segm"]["AP"]


def test_no_results_give_zeros_and_nothing_is_printed(shapes, capsys):
    cfg, records = shapes
    evaluator = COCOEvaluator(cfg.data, records, 0.5, "pycocotools")
    m = evaluator.evaluate()
    assert m["segm"]["AP"] == 0.0 and m["bbox"]["APl"] == 0.0 and m["segm"]["per_class_AP"] == {}
    evaluator.add(imperfect(records))
    evaluator.evaluate()
    assert capsys.readouterr().out == ""  # pycocotools' prints kept out of the console


def test_ground_truth_ids_come_from_the_json_when_there_is_one(shapes, tmp_path):
    cfg, records = shapes
    names, ids, gt = coco_ground_truth(cfg.data, records, "pycocotools")
    assert names == NAMES and ids == [1, 2, 3, 4] and len(gt.dataset["images"]) == 6
    data = coco_dict(records, NAMES, with_files=False)
    for c in data["categories"]:
        c["id"] *= 10  # a json's own ids: 10, 20, 30, 40
    for a in data["annotations"]:
        a["category_id"] *= 10
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    names, ids, gt = coco_ground_truth({"json_file": str(path)}, records, "pycocotools")
    assert names == NAMES and ids == [10, 20, 30, 40]


def test_segm_results_are_scored_by_their_masks_not_their_boxes(shapes, tmp_path):
    """As Detectron2: a segm evaluation drops the results' boxes, so loadRes takes each area
    from its mask; a wrong box would put false positives in the wrong size range (APs)."""
    cfg, records = shapes
    results = results_json(imperfect(records), [1, 2, 3, 4])
    for r in results:
        r["bbox"] = [0.0, 0.0, 100.0, 100.0]  # "large", where every mask is small
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(coco_dict(records, NAMES, with_files=False)))
    m = coco_metrics(ground_truth(None, NAMES, str(gt_json)), results, NAMES)
    stats = [m["segm"][k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")]
    assert stats == list(map(float, direct(gt_json, results, "segm")))  # masks only
    assert 0 < m["segm"]["APs"] < 1
