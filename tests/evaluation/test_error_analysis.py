"""TIDE-style errors, each produced by a hand-built case; confusion matrix; per-class P/R."""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from balloon_shapes.data.shapes import CLASSES, ShapesDicts, ShapesSpec
from balloon_shapes.evaluation.coco_evaluation import coco_metrics, ground_truth, results_json
from balloon_shapes.evaluation.error_analysis import (
    breakdown,
    confusion,
    fixed,
    images_with,
    outcomes,
    per_class,
)
from balloon_shapes.evaluation.matching import compact_ground_truth
from balloon_shapes.structures import encode_rle


def rect(x0, y0, x1, y1, size=100):
    m = np.zeros((size, size), np.uint8)
    m[y0:y1, x0:x1] = 1
    return encode_rle(m)


def pred(*items):
    """items: (rle, label, score)."""
    return {
        "boxes": np.zeros((len(items), 4)),
        "masks": [i[0] for i in items],
        "labels": np.array([i[1] for i in items], np.int64),
        "scores": np.array([i[2] for i in items], float),
    }


A = rect(10, 10, 40, 40)  # object of class 1
B = rect(60, 60, 90, 90)  # object of class 2
GT = {"masks": [A, B], "labels": [1, 2]}
SHIFTED_A = rect(25, 25, 55, 55)  # IoU with A: 225 / 1575 = 0.14 (>= 0.1, < 0.5)
NOWHERE = rect(0, 70, 20, 95)


@pytest.mark.parametrize(
    "items,kind",
    [
        ([(A, 2, 0.9)], "cls"),  # right place, wrong class
        ([(SHIFTED_A, 1, 0.9)], "loc"),  # right class, poorly placed
        ([(SHIFTED_A, 2, 0.9)], "both"),  # wrong class, poorly placed
        ([(A, 1, 0.9), (A, 1, 0.8)], "dupe"),  # A taken by the 0.9 prediction
        ([(NOWHERE, 1, 0.9)], "bkg"),  # covers no object
    ],
)
def test_each_error_lands_in_its_bucket(items, kind):
    o = outcomes([pred(*items)], [GT])
    kinds = [d.kind for d in o.detections]
    assert kinds[-1] == kind and kinds.count(kind) == 1
    assert all(k == "tp" for k in kinds[:-1])
    counts = breakdown(outcomes([pred(*items)], [GT]))["counts"]
    assert counts[kind] == 1
    assert sum(counts.values()) == 1 + counts["miss"]


def test_missed_objects_are_those_no_prediction_took_or_points_at():
    o = outcomes([pred((A, 2, 0.9))], [GT])  # A pointed at by a cls error, B untouched
    assert o.missed[0].tolist() == [False, True]
    assert breakdown(outcomes([pred((A, 2, 0.9))], [GT]))["counts"]["miss"] == 1
    loc = outcomes([pred((SHIFTED_A, 1, 0.9))], [GT])  # A pointed at by a loc error
    assert loc.missed[0].tolist() == [False, True]
    both = outcomes([pred((SHIFTED_A, 2, 0.9))], [GT])  # "both" points at nothing
    assert both.missed[0].tolist() == [True, True]
    empty = breakdown(outcomes([pred()], [GT]))
    assert empty["counts"]["miss"] == 2 and empty["AP50"] == 0.0


def test_fixing_an_error_type_recovers_exactly_its_ap():
    # class 1: a background FP above the true positive -> AP50(class 1) = 0.5 at every recall
    # class 2: B predicted as class 1 (cls error) -> AP50(class 2) = 0
    p = pred((NOWHERE, 1, 0.95), (A, 1, 0.9), (B, 1, 0.8))
    b = breakdown(outcomes([p], [GT]))
    assert b["AP50"] == pytest.approx((0.5 + 0.0) / 2)
    assert b["dAP50"]["bkg"] == pytest.approx((1.0 + 0.0) / 2 - 0.25)
    # fixing cls: B becomes a class-2 TP (AP 1); class 1 loses its third FP
    assert b["dAP50"]["cls"] == pytest.approx((0.5 + 1.0) / 2 - 0.25)
    assert b["dAP50"]["miss"] == 0.0 and b["dAP50"]["dupe"] == 0.0
    missed = breakdown(
        outcomes([pred((A, 1, 0.9))], [GT])
    )  # B missed: class 2 AP 0; fixed: left out
    assert missed["dAP50"]["miss"] == pytest.approx(1.0 - 0.5)


def test_a_fixed_error_whose_object_is_taken_is_dropped_as_a_duplicate():
    o = outcomes([pred((A, 1, 0.9), (A, 2, 0.8))], [GT])
    assert [d.kind for d in o.detections] == ["tp", "cls"]
    dets, _ = fixed(o, "cls")
    assert dets == [(1, 0.9, True)]


def test_ap50_is_coco_segm_ap50_on_noisy_shapes_predictions():
    recs = list(ShapesDicts(0, 12, ShapesSpec(height=64, width=64)))
    rng = np.random.default_rng(0)
    preds, gts = [], []
    for r in recs:
        gt = compact_ground_truth(r)
        rles, labels = gt["masks"], gt["labels"]
        items = []
        for rle, lab in zip(rles, labels):
            m = mask_utils.decode(rle)
            if rng.random() < 0.2:
                continue  # missed
            if rng.random() < 0.3:
                m = np.roll(m, int(rng.integers(2, 12)), axis=1)  # localisation
            lab2 = lab if rng.random() > 0.2 else int(rng.integers(1, 5))
            items.append((encode_rle(m), lab2, float(rng.random())))
        if rng.random() < 0.5:
            items.append((rect(0, 0, 10, 10, 64), int(rng.integers(1, 5)), float(rng.random())))
        p = pred(*items)
        p["image_id"] = r["image_id"]
        p["boxes"] = (
            np.array(
                [[*b[:2], b[0] + b[2], b[1] + b[3]] for b in mask_utils.toBbox(p["masks"])]
            ).reshape(-1, 4)
            if items
            else np.zeros((0, 4))
        )
        preds.append(p)
        gts.append(gt)
    names = list(CLASSES)
    coco = coco_metrics(ground_truth(recs, names), results_json(preds, [1, 2, 3, 4]), names)
    ours = breakdown(outcomes(preds, gts))["AP50"]
    assert 0.2 < ours < 0.95
    assert ours == pytest.approx(coco["segm"]["AP50"], abs=1e-9)


def test_confusion_matrix_of_a_hand_built_case():
    p = pred((A, 2, 0.9), (NOWHERE, 1, 0.8), (B, 2, 0.7), (SHIFTED_A, 1, 0.3))
    m = confusion([p], [GT], num_classes=2, min_score=0.5)
    # rows: true 1, true 2, background; columns: predicted 1, predicted 2, background
    assert m.tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 0]]
    none = confusion([pred()], [GT], num_classes=2, min_score=0.5)
    assert none.tolist() == [[0, 0, 1], [0, 0, 1], [0, 0, 0]]


def test_per_class_precision_and_recall():
    p = pred((A, 1, 0.9), (NOWHERE, 1, 0.8), (B, 1, 0.6), (B, 2, 0.2))
    rows = per_class(outcomes([p], [GT]), ["one", "two"], min_score=0.5)
    assert rows[0] == {
        "class": "one",
        "objects": 1,
        "predictions": 3,
        "precision": 1 / 3,
        "recall": 1.0,
    }
    assert rows[1]["predictions"] == 0 and rows[1]["recall"] == 0.0
    assert np.isnan(rows[1]["precision"])


def test_images_with_each_error():
    preds = [
        pred((A, 2, 0.9)),
        pred((NOWHERE, 1, 0.9), (A, 1, 0.8), (B, 2, 0.8)),
        pred((NOWHERE, 1, 0.2), (A, 1, 0.8), (B, 2, 0.8)),
    ]
    found = images_with(outcomes(preds, [GT, GT, GT]), min_score=0.5)
    assert found["cls"] == [0] and found["miss"] == [0] and found["bkg"] == [1]
    assert found["loc"] == [] and found["dupe"] == []


def test_only_the_best_scored_error_pointing_at_an_object_is_fixed_as_tide_does():
    # A loc error (0.9) and a cls error (0.8) both point at A: fixing cls fixes nothing,
    # fixing loc makes the 0.9 prediction A's true positive and drops nothing else
    o = outcomes([pred((SHIFTED_A, 1, 0.9), (A, 2, 0.8))], [GT])
    assert [(d.kind, d.target) for d in o.detections] == [("loc", 0), ("cls", 0)]
    assert fixed(o, "cls")[0] == [(1, 0.9, False)]
    assert fixed(o, "loc")[0] == [(1, 0.9, True), (2, 0.8, False)]


def test_a_poor_same_class_match_is_loc_even_with_a_good_other_class_match():
    """TIDE tests localisation before classification: a prediction overlapping an object of its
    class at IoU 0.3 and one of another class at 0.7 is a localisation error of the first."""
    from balloon_shapes.evaluation.error_analysis import error_kind

    row, same = np.array([0.3, 0.7]), np.array([True, False])
    assert error_kind(row, same, 0.5, 0.1) == ("loc", 0)
    assert error_kind(np.array([0.05, 0.7]), same, 0.5, 0.1) == ("cls", 1)


@pytest.mark.parametrize(
    "same_iou, other_iou, expected",
    [
        ([0.5], [], ("loc", 0)),  # tb <= IoU <= tf, both ends inclusive (TIDE's BoxError)
        ([0.0, 0.1], [], ("loc", 1)),
        ([0.09], [], ("bkg", -1)),
        ([0.0], [0.5], ("cls", 1)),  # IoU >= tf with another class (ClassError)
        ([0.6], [0.3], ("dupe", -1)),  # a same-class object it would have taken, taken already
        ([0.6], [0.7], ("cls", 1)),  # cls is tested before dupe
        ([0.0], [0.1], ("bkg", -1)),  # every IoU <= tb, inclusive (BackgroundError)
        ([0.0], [0.3], ("both", -1)),  # tb < IoU < tf with another class only
        ([], [], ("bkg", -1)),  # an image without objects
    ],
)
def test_error_kind_at_the_thresholds_follows_tide(same_iou, other_iou, expected):
    """TIDE's own tests (tidecv quantify.TIDERun._eval_image, read): IoUs exactly on tf = 0.5
    and tb = 0.1 fall on the side TIDE puts them."""
    from balloon_shapes.evaluation.error_analysis import error_kind

    row = np.array(same_iou + other_iou, dtype=np.float64)
    same = np.array([True] * len(same_iou) + [False] * len(other_iou))
    assert error_kind(row, same, 0.5, 0.1) == expected


def test_a_score_exactly_at_min_score_counts():
    """The report's threshold is inclusive, as the demos' ``score >= score_thresh``."""
    o = outcomes([pred((B, 2, 0.5), (NOWHERE, 2, 0.5))], [GT])
    assert per_class(o, ["one", "two"], min_score=0.5)[1]["predictions"] == 2
    assert images_with(o, min_score=0.5)["bkg"] == [0]


def test_ap50_skips_classes_without_objects_and_keeps_cocos_tie_order():
    """Hand-computed: a class with no object is left out of the mean (not the end of it); equal
    scores keep their input order, as COCO's stable sort does (numpy's default sort mixes equal
    keys when others are interleaved); nothing to average is 0."""
    from balloon_shapes.evaluation.error_analysis import ap50

    dets = [(2, 0.9, True), (2, 0.8, False), (3, 0.7, True)]
    # class 2: precision 1 up to recall 0.5, then 2/3 at recall 1 is not reached (1 of 2)
    # -> 51 of 101 recall points at 1.0; class 3: 1.0
    assert ap50(dets, {1: 0, 2: 2, 3: 1}) == pytest.approx((51 / 101 + 1.0) / 2)
    ties = [(1, 0.5, True)] * 20 + [(1, 0.5, False)] * 20 + [(1, 0.6, True)] * 20
    assert ap50(ties, {1: 40}) == 1.0  # the 0.5 true positives before the 0.5 false ones
    assert ap50([], {}) == 0.0 and ap50([(1, 0.5, True)], {1: 0}) == 0.0


def test_confusion_and_per_class_count_every_object():
    """Two images with the same mistakes: every cell counts both; classes with different
    numbers of objects; a class without objects has no recall."""
    p = pred((A, 2, 0.9), (B, 2, 0.8))
    gt_two_a = {"masks": [A, B, rect(0, 60, 20, 95)], "labels": [1, 2, 1]}
    m = confusion([p, p], [gt_two_a, gt_two_a], num_classes=3, min_score=0.5)
    assert m[0, 1] == 2 and m[1, 1] == 2 and m[0, 3] == 2  # A as 2, B right, the other 1 missed
    rows = per_class(outcomes([p, p], [gt_two_a, gt_two_a]), ["one", "two", "three"], 0.5)
    assert [r["objects"] for r in rows] == [4, 2, 0]
    assert rows[1]["recall"] == 1.0 and rows[0]["recall"] == 0.0
    assert np.isnan(rows[2]["recall"]) and np.isnan(rows[2]["precision"])
    o = outcomes([pred((A, 1, 0.9), (B, 2, 0.8), (B, 2, 0.7))], [GT])
    assert breakdown(o)["true_positives"] == 2
    half = per_class(
        outcomes([pred((A, 1, 0.9))], [{"masks": [A, B], "labels": [1, 1]}]), ["one"], 0.5
    )
    assert half[0]["recall"] == 0.5


def test_a_stricter_foreground_threshold_changes_what_matches():
    """t_f is the matching threshold too: SHIFTED_A (IoU 0.14 with A) and a 0.6-IoU box."""
    near_a = rect(10, 10, 40, 28)  # 18 of A's 30 rows: IoU 0.6
    o = outcomes([pred((near_a, 1, 0.9))], [GT], t_f=0.5)
    assert o.detections[0].kind == "tp"
    o = outcomes([pred((near_a, 1, 0.9))], [GT], t_f=0.75)
    assert o.detections[0].kind == "loc"
