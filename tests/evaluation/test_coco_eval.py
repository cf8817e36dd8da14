"""Our COCO evaluator gives exactly pycocotools' numbers; crowd regions are ignored."""

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from balloon_shapes.data.coco import load_coco
from balloon_shapes.data.coco_writer import coco_dict
from balloon_shapes.data.shapes import CLASSES, ShapesDicts, ShapesSpec
from balloon_shapes.evaluation.coco_evaluation import coco_metrics, ground_truth, results_json
from balloon_shapes.structures import encode_rle, encode_rles

NAMES = list(CLASSES)


def records(n=6):
    return list(ShapesDicts(0, n, ShapesSpec(height=64, width=64)))


def perfect_preds(recs):
    import torch

    out = []
    for r in recs:
        masks = [mask_utils.decode(a["segmentation"]) for a in r["annotations"]]
        out.append(
            {
                "image_id": r["image_id"],
                "boxes": np.array([a["bbox"] for a in r["annotations"]]).reshape(-1, 4),
                "scores": np.linspace(0.99, 0.5, len(masks)),
                "labels": np.array([a["category_id"] + 1 for a in r["annotations"]]),
                "masks": encode_rles(torch.from_numpy(np.stack(masks)).bool()) if masks else [],
            }
        )
    return out


def imperfect(records):
    """perfect_preds made imperfect: scores out of order, one image's classes wrong."""
    preds = perfect_preds(records)
    for i, p in enumerate(preds):
        p["scores"] = (p["scores"] * (0.3 + 0.1 * i)) % 1.0
    preds[2]["labels"] = (preds[2]["labels"] % 4) + 1
    return preds


def direct(gt_json, results, iou_type, cat_ids=None):
    """pycocotools on its own, from json files, as its README shows (``cat_ids``: only those
    categories)."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_json))
        res = copy.deepcopy(results)
        if iou_type == "segm":
            for r in res:
                r.pop("bbox")
        ev = COCOeval(gt, gt.loadRes(res), iou_type)
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate(), ev.accumulate(), ev.summarize()
    return ev.stats[:6]


def test_perfect_predictions_give_ap_one():
    recs = records()
    m = coco_metrics(
        ground_truth(recs, NAMES), results_json(perfect_preds(recs), [1, 2, 3, 4]), NAMES
    )
    for t in ("bbox", "segm"):
        assert m[t]["AP"] == pytest.approx(1.0) and m[t]["AP50"] == pytest.approx(1.0)


def noisy_case(tmp_path):
    """Shifted, missing, duplicate and mislabelled predictions on 8 shapes images: (results,
    the ground-truth json)."""
    recs = records(8)
    preds = perfect_preds(recs)
    rng = np.random.default_rng(0)
    preds[0]["boxes"] = preds[0]["boxes"] + 3.0  # shifted boxes
    preds[1] = {k: (v[:0] if k != "image_id" else v) for k, v in preds[1].items()}  # missed image
    preds[1]["masks"] = []
    dup = preds[2]  # duplicates with lower scores
    dup["boxes"] = np.concatenate([dup["boxes"], dup["boxes"] + 1])
    dup["scores"] = np.concatenate([dup["scores"], dup["scores"] * 0.5])
    dup["labels"] = np.concatenate([dup["labels"], dup["labels"]])
    dup["masks"] = dup["masks"] + dup["masks"]
    for p in preds[3:]:
        p["scores"] = rng.uniform(0.1, 1.0, len(p["scores"]))
        p["labels"] = (p["labels"] % 4) + 1 if p is preds[3] else p["labels"]  # wrong classes
    results = results_json(preds, [1, 2, 3, 4])
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(coco_dict(recs, NAMES, with_files=False)))
    return results, gt_json


def test_shifted_missing_duplicate_match_pycocotools_exactly(tmp_path):
    results, gt_json = noisy_case(tmp_path)
    for backend in ("pycocotools", "faster-coco-eval"):
        ours = coco_metrics(ground_truth(None, NAMES, str(gt_json), backend), results, NAMES)
        for t in ("bbox", "segm"):
            expected = direct(gt_json, results, t)
            got = [ours[t][k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")]
            assert got == list(map(float, expected)), backend
            assert 0 < ours[t]["AP"] < 1


def crowded_case(tmp_path):
    """Small, medium and large objects, 14 per image, and 20 detections per image (jittered, some
    of the wrong class, 13 of class 1): "all areas" differs from "small" and 100 detections per
    image and class from 10, which the noisy shapes case cannot tell apart. Its last class has
    no object at all."""
    rng = np.random.default_rng(1)
    images, anns, results = [], [], []
    sides = [6] * 4 + [40] * 8 + [110] * 2  # areas: small < 32^2 <= medium < 96^2 <= large
    for i in range(3):
        images.append({"id": i + 1, "width": 400, "height": 400, "file_name": f"{i}.png"})
        for j, side in enumerate(sides):
            y, x = int(rng.integers(0, 400 - side)), int(rng.integers(0, 400 - side))
            m = np.zeros((400, 400), np.uint8)
            m[y : y + side, x : x + side] = 1
            cat = j % 2 + 1
            box = [x, y, side, side]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": cat,
                    "segmentation": encode_rle(m),
                    "area": side * side,
                    "bbox": box,
                    "iscrowd": 0,
                }
            )
            dy, dx = rng.integers(-side // 4, side // 4 + 1, 2)
            p = np.roll(m, (int(dy), int(dx)), (0, 1))
            wrong = 3 - cat if rng.random() < 0.2 else cat
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": int(wrong),
                    "score": float(rng.random()),
                    "segmentation": encode_rle(p),
                    "bbox": [x + int(dx), y + int(dy), side, side],
                }
            )
        for _ in range(20 - len(sides)):
            m = np.zeros((400, 400), np.uint8)
            y, x = rng.integers(0, 360, 2)
            m[y : y + 40, x : x + 40] = 1
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": 1,
                    "score": float(rng.random()),
                    "segmentation": encode_rle(m),
                    "bbox": [int(x), int(y), 40, 40],
                }
            )
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(NAMES)]
    results.append({**results[-1], "category_id": len(NAMES)})  # a class with no object
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return results, gt_json


@pytest.mark.parametrize("case", [noisy_case, crowded_case])
def test_per_class_ap_is_pycocotools_ap_of_that_class_alone(tmp_path, case):
    """Independent of how the precision array is read: pycocotools run on one category."""
    results, gt_json = case(tmp_path)
    ours = coco_metrics(ground_truth(None, NAMES, str(gt_json), "pycocotools"), results, NAMES)
    for t in ("bbox", "segm"):
        for k, name in enumerate(NAMES):
            alone = direct(gt_json, results, t, cat_ids=[k + 1])[0]
            if alone == -1:  # pycocotools' "no object of this class": ours says nan
                assert np.isnan(ours[t]["per_class_AP"][name]), name
                continue
            assert ours[t]["per_class_AP"][name] == pytest.approx(alone, abs=1e-12), name


def test_crowd_regions_are_ignored(tmp_path):
    m = np.zeros((40, 40), np.uint8)
    m[5:15, 5:15] = 1
    crowd = np.zeros((40, 40), np.uint8)
    crowd[20:40, 20:40] = 1

    def enc(a):
        return {
            **mask_utils.encode(np.asfortranarray(a)),
            "counts": mask_utils.encode(np.asfortranarray(a))["counts"].decode(),
        }

    gt = {
        "images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 40}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [5, 5, 10, 10],
                "area": 100,
                "iscrowd": 0,
                "segmentation": enc(m),
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [20, 20, 20, 20],
                "area": 400,
                "iscrowd": 1,
                "segmentation": enc(crowd),
            },
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    recs = load_coco(str(path), str(tmp_path))
    assert [a["iscrowd"] for a in recs[0]["annotations"]] == [0, 1]  # kept, marked
    inside_crowd = np.zeros((40, 40), np.uint8)
    inside_crowd[25:35, 25:35] = 1
    results = [
        {
            "image_id": 1,
            "category_id": 1,
            "bbox": [5, 5, 10, 10],
            "score": 0.9,
            "segmentation": enc(m),
        },
        {
            "image_id": 1,
            "category_id": 1,
            "bbox": [25, 25, 10, 10],
            "score": 0.95,
            "segmentation": enc(inside_crowd),
        },
    ]
    metrics = coco_metrics(ground_truth(None, ["thing"], str(path)), results, ["thing"])
    assert metrics["bbox"]["AP"] == pytest.approx(1.0) and metrics["segm"]["AP"] == pytest.approx(
        1.0
    )


def test_contiguous_ids_map_back_to_json_ids(tmp_path):
    gt = {
        "images": [{"id": 7, "file_name": "a.png", "height": 10, "width": 10}],
        "annotations": [],
        "categories": [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    from balloon_shapes.data.coco import coco_metadata

    meta = coco_metadata(str(path))
    assert meta["thing_classes"] == ["person", "toothbrush"]
    assert meta["thing_dataset_id_to_contiguous_id"] == {1: 0, 90: 1}
    pred = [
        {
            "image_id": 7,
            "boxes": np.array([[0, 0, 2, 2.0]]),
            "scores": np.array([0.5]),
            "labels": np.array([2]),
            "masks": [{"size": [10, 10], "counts": "0"}],
        }
    ]
    assert results_json(pred, [1, 90])[0]["category_id"] == 90


def test_coco_json_is_parsed_once_and_cocoeval_leaves_it_intact(tmp_path, monkeypatch):
    import balloon_shapes.data.coco as coco_module
    import balloon_shapes.files as bs_io

    square = [[4.0, 4.0, 20.0, 4.0, 20.0, 20.0, 4.0, 20.0]]
    data = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "height": 32, "width": 32} for i in (1, 2)],
        "annotations": [
            {
                "id": i,
                "image_id": i,
                "category_id": 7,
                "segmentation": square,
                "bbox": [4, 4, 16, 16],
                "area": 256,
                "iscrowd": 0,
            }
            for i in (1, 2)
        ],
        "categories": [{"id": 7, "name": "thing"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    loads = []
    real_load = bs_io.json.load  # every project json read goes through io.read_json
    monkeypatch.setattr(bs_io.json, "load", lambda f: loads.append(1) or real_load(f))
    recs = load_coco(str(path), str(tmp_path))
    gt = ground_truth(recs, [], str(path))
    rle = mask_utils.encode(np.asfortranarray(mask_utils.decode(gt.annToRLE(gt.anns[1]))))
    rle["counts"] = rle["counts"].decode()
    results = [
        {"image_id": i, "category_id": 7, "segmentation": rle, "bbox": [4, 4, 16, 16], "score": 0.9}
        for i in (1, 2)
    ]
    assert coco_metrics(gt, results, ["thing"])["segm"]["AP50"] == pytest.approx(1.0)
    assert len(loads) == 1  # the loader's parse served the COCO api too
    again = load_coco(str(path), str(tmp_path))  # after COCOeval ran on the shared parse
    assert again[0]["annotations"][0]["segmentation"] == square
    data["categories"][0]["name"] = "renamed"
    path.write_text(json.dumps(data) + " ")  # a new version of the file is read anew
    assert coco_module.read_coco_json(str(path))["categories"][0]["name"] == "renamed"
    assert len(loads) == 2
