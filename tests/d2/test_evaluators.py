"""Our evaluators inside Detectron2: same numbers as eval.py, and usable in inference_on_dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.d2.conftest import WHY  # noqa: E402

pytest.importorskip("detectron2", reason=WHY)

from detectron2.data import DatasetCatalog, build_detection_test_loader  # noqa: E402
from detectron2.evaluation import (  # noqa: E402
    COCOEvaluator,
    DatasetEvaluators,
    inference_on_dataset,
)
from detectron2.modeling import build_model  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402

from balloon_shapes.d2.evaluators import RobustnessEvaluator, VOCStyleEvaluator  # noqa: E402
from balloon_shapes.evaluation.matching import compact_ground_truth  # noqa: E402
from balloon_shapes.evaluation.voc_style import voc_items, voc_map  # noqa: E402
from balloon_shapes.structures import decode_rles, encode_rles  # noqa: E402
from tests.d2.conftest import tiny_cfg  # noqa: E402


def our_predictions(records, rng) -> list[dict]:
    """Per image: its ground truth kept or dropped, some shifted, some relabelled, a false
    positive, scores at random: a case where the VOC-style mAP is neither 0 nor 1."""
    preds = []
    for r in records:
        h, w = r["height"], r["width"]
        gt = compact_ground_truth(r)
        rles, labels = gt["masks"], gt["labels"]
        masks = list(decode_rles(rles, h, w))
        labels = list(labels)
        for k in range(len(masks)):
            if rng.random() < 0.3:
                masks[k] = np.roll(masks[k], int(rng.integers(3, 9)), axis=1)
            if rng.random() < 0.2:
                labels[k] = labels[k] % 4 + 1
        fp = np.zeros((h, w), bool)
        fp[:10, :10] = True
        masks, labels = masks + [fp], labels + [1]
        keep = rng.random(len(masks)) > 0.15
        masks = np.array(masks, bool)[keep].reshape(-1, h, w)
        preds.append(
            {
                "image_id": r["image_id"],
                "boxes": np.tile([0.0, 0.0, 10.0, 10.0], (len(masks), 1)),
                "scores": rng.random(len(masks)).astype(np.float32),
                "labels": np.array(labels)[keep].astype(np.int64),
                "masks": encode_rles(masks),
            }
        )
    return preds


def as_detectron2(pred: dict, h: int, w: int) -> dict:
    inst = Instances((h, w))
    inst.pred_boxes = Boxes(torch.as_tensor(pred["boxes"], dtype=torch.float32))
    inst.scores = torch.as_tensor(pred["scores"])
    inst.pred_classes = torch.as_tensor(pred["labels"]) - 1  # Detectron2 counts from 0
    inst.pred_masks = torch.as_tensor(decode_rles(pred["masks"], h, w))
    return {"instances": inst}


def test_voc_style_evaluator_gives_eval_py_numbers_on_the_same_predictions(registered):
    records = list(DatasetCatalog.get("shapes_val"))
    preds = our_predictions(records, np.random.default_rng(0))
    ours = voc_map(voc_items(preds, [compact_ground_truth(r) for r in records]))["mAP50"]
    assert 0.05 < ours < 0.95
    evaluator = VOCStyleEvaluator("shapes_val")
    evaluator.reset()
    for r, p in zip(records, preds):
        output = as_detectron2(p, r["height"], r["width"])
        evaluator.process([{"image_id": r["image_id"]}], [output])
    assert evaluator.evaluate()["voc_style"]["mAP50"] == pytest.approx(ours, abs=1e-12)


def test_evaluators_run_in_inference_on_dataset_with_a_detectron2_model(registered, tmp_path):
    cfg = tiny_cfg("shapes_train", str(tmp_path))
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    loader = build_detection_test_loader(cfg, "shapes_val")
    evaluators = DatasetEvaluators(
        [
            COCOEvaluator("shapes_val", output_dir=str(tmp_path / "coco")),
            VOCStyleEvaluator("shapes_val"),
            RobustnessEvaluator("shapes_val", model, cfg.INPUT.FORMAT),
        ]
    )
    results = inference_on_dataset(model, loader, evaluators)
    assert {"segm", "bbox", "voc_style", "robustness"} <= set(results)
    assert results["voc_style"]["images"] == 4
    robust = results["robustness"]
    assert 0.0 <= robust["voc_mAP50_rgb"] <= 1.0 and 0.0 <= robust["voc_mAP50_gray"] <= 1.0
    assert any(k.startswith("recall_gray_") for k in robust)


def test_robustness_evaluator_gives_eval_py_numbers_on_the_same_predictions(registered, tmp_path):
    from balloon_shapes.commands.evaluate import compare_report
    from balloon_shapes.config import load_config

    records = list(DatasetCatalog.get("shapes_val"))
    rgb = our_predictions(records, np.random.default_rng(1))
    gray = our_predictions(records, np.random.default_rng(2))
    by_id = {p["image_id"]: p for p in gray}

    def gray_model(inputs):  # stands for the model on the gray copies: fixed predictions
        return [as_detectron2(by_id[i["image_id"]], i["height"], i["width"]) for i in inputs]

    evaluator = RobustnessEvaluator("shapes_val", gray_model, "BGR")
    evaluator.reset()
    for r, p in zip(records, rgb):
        item = {"image_id": r["image_id"], "height": r["height"], "width": r["width"]}
        item["image"] = torch.zeros(3, r["height"], r["width"], dtype=torch.uint8)
        evaluator.process([item], [as_detectron2(p, r["height"], r["width"])])
    got = evaluator.evaluate()["robustness"]
    gts = [compact_ground_truth(r) for r in records]
    metrics = {t: {k: 0.5 for k in ("AP", "AP50", "APs", "APm", "APl")} for t in ("bbox", "segm")}
    runs = {m: {"preds": p, "metrics": metrics} for m, p in (("rgb", rgb), ("gray", gray))}
    cfg = load_config(["+experiment=smoke", f"output_dir={tmp_path}"])
    rows = compare_report(cfg, records, gts, runs)[0]["recall_by_contrast"]
    assert sum(r["objects"] for r in rows) > 0
    for row in rows:
        for mode in ("rgb", "gray"):
            want, key = row[f"recall_{mode}"], f"recall_{mode}_{row['contrast']}"
            assert got[key] == pytest.approx(want, nan_ok=True)
    for mode, preds in (("rgb", rgb), ("gray", gray)):
        assert got[f"voc_mAP50_{mode}"] == pytest.approx(voc_map(voc_items(preds, gts))["mAP50"])


def voc_on_a_rank(rank: int) -> dict:
    """Rank ``rank`` of two: its half of the images through VOCStyleEvaluator (Detectron2's
    comm gathers them on rank 0)."""
    from balloon_shapes.d2.datasets import register_in_detectron2
    from tests.d2.conftest import SMALL

    register_in_detectron2({"shapes_val": {"size": 6, "spec": SMALL}})
    records = list(DatasetCatalog.get("shapes_val"))
    preds = our_predictions(records, np.random.default_rng(0))
    evaluator = VOCStyleEvaluator("shapes_val")
    evaluator.reset()
    for r, p in list(zip(records, preds))[rank::2]:
        output = as_detectron2(p, r["height"], r["width"])
        evaluator.process([{"image_id": r["image_id"]}], [output])
    return evaluator.evaluate()


@pytest.mark.slow
def test_voc_style_evaluator_gathers_every_rank(tmp_path):
    from balloon_shapes.data import catalog
    from tests.d2.conftest import SMALL
    from tests.distributed import on_two_processes

    records = list(catalog.get("shapes_val", size=6, spec=SMALL))  # this process's catalog
    preds = our_predictions(records, np.random.default_rng(0))
    single = voc_map(voc_items(preds, [compact_ground_truth(r) for r in records]))
    main, other = on_two_processes(voc_on_a_rank, tmp_path)
    assert main["voc_style"]["images"] == 6 and other == {}
    assert main["voc_style"]["mAP50"] == pytest.approx(single["mAP50"], abs=1e-12)


def test_robustness_evaluator_grays_the_image_in_the_models_channel_order(registered):
    """A BGR model's input is turned gray from its true colors (luminance weighs R and B
    differently), and stays in the model's layout."""
    from balloon_shapes.data.mapper import to_gray3

    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 200  # red: gray ~60 read as RGB, ~23 if the channels were swapped
    want = to_gray3(rgb)
    for fmt, chw in (("BGR", rgb[:, :, ::-1]), ("RGB", rgb)):
        evaluator = RobustnessEvaluator("shapes_val", None, fmt)
        image = torch.from_numpy(np.ascontiguousarray(chw.transpose(2, 0, 1)))
        gray = evaluator.gray_input({"image": image, "image_id": 0})["image"]
        assert gray.shape == (3, 6, 8)
        assert np.array_equal(gray.permute(1, 2, 0).numpy(), want)
