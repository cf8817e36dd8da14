"""VOC-style per-image mAP@0.5 on small cases worked out by hand."""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from balloon_shapes.evaluation.matching import greedy_match as match
from balloon_shapes.evaluation.matching import match_image
from balloon_shapes.evaluation.voc_style import average_precision, image_ap, voc_map


def rle(x0, y0, x1, y1, h=20, w=20):
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return mask_utils.encode(np.asfortranarray(m))


A, B, C = rle(0, 0, 10, 10), rle(10, 10, 20, 20), rle(0, 10, 10, 20)


def test_perfect_image_is_one():
    assert image_ap([A, B], [0.9, 0.8], [1, 1], [A, B], [1, 1]) == 1.0


def test_false_positive_ranked_first():
    # scores: C (no gt, FP) 0.9, A (TP) 0.8, B (TP) 0.7; 2 gt.
    # precision after each: 0/1, 1/2, 2/3; recall: 0, 1/2, 1.
    # monotone precision: 2/3, 2/3, 2/3 -> area = 1/2 * 2/3 + 1/2 * 2/3 = 2/3
    ap = image_ap([C, A, B], [0.9, 0.8, 0.7], [1, 1, 1], [A, B], [1, 1])
    assert ap == pytest.approx(2 / 3)


def test_missed_ground_truth_halves_recall():
    # one TP of two gt: recall 1/2 at precision 1 -> AP = 0.5
    assert image_ap([A], [0.9], [1], [A, B], [1, 1]) == pytest.approx(0.5)


def test_wrong_class_does_not_match():
    assert image_ap([A], [0.9], [2], [A], [1]) == 0.0


def test_duplicate_matches_once_unlike_keras():
    # two predictions on the same gt: the second is a FP. precision 1, 1/2; recall 1, 1 -> AP 1.
    # but with a second gt B never found: recall 1/2 -> AP 0.5 (Keras' `> 0` bug would let
    # prediction 1 re-match gt 0 and count it twice: recall 1, AP 1).
    assert image_ap([A, A], [0.9, 0.8], [1, 1], [A, B], [1, 1]) == pytest.approx(0.5)
    ious = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert match(ious, [1, 1], [1, 1]).tolist() == [0, -1]


def test_images_without_gt_or_predictions():
    # image 1 perfect (1.0), image 2 no predictions (0.0), image 3 no gt (left out) -> 0.5
    result = voc_map(
        [
            ([A], [0.9], [1], [A], [1]),
            ([], [], [], [B], [1]),
            ([C], [0.9], [1], [], []),
        ]
    )
    assert result == {"mAP50": 0.5, "images": 2, "images_skipped": 1}


def test_iou_threshold_is_inclusive_at_half():
    half = rle(0, 0, 10, 5)  # IoU with A = 50/100
    assert image_ap([half], [0.9], [1], [A], [1]) == 1.0
    less = rle(0, 0, 10, 4)  # 40/100
    assert image_ap([less], [0.9], [1], [A], [1]) == 0.0


def test_average_precision_all_point_interpolation():
    # hits F T T F T with 3 gt: precision 0, 1/2, 2/3, 2/4, 3/5; recall steps at 2nd, 3rd, 5th
    # monotone precision at those: 2/3, 2/3, 3/5 -> 1/3*2/3 + 1/3*2/3 + 1/3*3/5
    ap = average_precision(np.array([-1, 0, 1, -1, 2]), 3)
    assert ap == pytest.approx((2 / 3 + 2 / 3 + 3 / 5) / 3)


def test_each_prediction_takes_its_highest_iou_ground_truth_not_the_first():
    # prediction 0 overlaps gt 0 a little and gt 1 a lot; prediction 1 only overlaps gt 0.
    # Taking the first gt above 0.5 would leave gt 1 unmatched and prediction 1 a false positive.
    ious = np.array([[0.6, 0.9], [0.8, 0.0]])
    assert match(ious, [1, 1], [1, 1]).tolist() == [1, 0]


def test_a_taken_or_other_class_best_match_falls_back_to_the_next_best():
    # prediction 1's best ground truth (0) is taken by prediction 0, its next best (1) is the
    # wrong class, its third (2) is free: it must end up with 2, not unmatched
    ious = np.array([[0.9, 0.0, 0.0], [0.8, 0.7, 0.6]])
    assert match(ious, [1, 1], [1, 2, 1]).tolist() == [0, 2]


def test_the_threshold_reaches_the_matching():
    # A vs the 10x5 half of A: IoU exactly 0.5, a match at the default threshold (inclusive),
    # not at 0.6 passed through image_ap and voc_map's tuples
    half = rle(0, 0, 10, 5)
    assert image_ap([half], [0.9], [1], [A], [1]) == 1.0
    assert image_ap([half], [0.9], [1], [A], [1], 0.6) == 0.0


def test_no_image_with_ground_truth_gives_zero_not_nan():
    assert voc_map([([C], [0.9], [1], [], [])]) == {
        "mAP50": 0.0,
        "images": 0,
        "images_skipped": 1,
    }


def test_matching_defaults_to_iou_half_and_sorts_by_score():
    half = rle(0, 0, 10, 5)  # IoU 0.5 with A
    pred = {"masks": [C, half], "scores": [0.1, 0.9], "labels": [1, 1]}
    order, _, matched = match_image(pred, {"masks": [A], "labels": [1]})
    assert order.tolist() == [1, 0] and matched.tolist() == [0, -1]


def test_any_class_and_min_score_serve_the_confusion_matrix_and_recall():
    pred = {"masks": [A, B, C], "scores": [0.9, 0.8, 0.3], "labels": [2, 1, 1]}
    gt = {"masks": [A, B, C], "labels": [1, 1, 1]}
    assert match_image(pred, gt)[2].tolist() == [-1, 1, 2]  # A's prediction has class 2
    order, _, matched = match_image(pred, gt, min_score=0.5, any_class=True)
    assert order.tolist() == [0, 1] and matched.tolist() == [0, 1]


def test_ground_truth_takes_the_compact_form_of_predictions():
    """Non-crowd objects only, 1-based labels, scores 1, XYXY boxes tight around each mask
    (a polygon's, a 1-pixel object's), RLE masks; decoded back by compact_instances."""
    from balloon_shapes.evaluation.matching import compact_ground_truth
    from balloon_shapes.structures import compact_instances

    square = [[2.0, 3.0, 12.0, 3.0, 12.0, 9.0, 2.0, 9.0]]  # x 2..12, y 3..9
    pixel = {"size": [20, 30], "counts": [5 * 20 + 4, 1, 600 - 105]}  # column-major: (y 4, x 5)
    record = {"image_id": 7, "height": 20, "width": 30, "annotations": [
        {"category_id": 2, "segmentation": square, "iscrowd": 0},
        {"category_id": 0, "segmentation": square, "iscrowd": 1},
        {"category_id": 0, "segmentation": pixel},
    ]}  # fmt: skip
    gt = compact_ground_truth(record)
    assert gt["image_id"] == 7 and gt["labels"].tolist() == [3, 1]
    assert gt["scores"].tolist() == [1.0, 1.0]
    inst = compact_instances(gt, 20, 30)
    assert inst.masks.shape == (2, 20, 30) and inst.masks[1].sum() == 1 and inst.masks[1][4, 5]
    ys, xs = np.nonzero(inst.masks[0])
    tight = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert gt["boxes"].tolist() == [tight, [5, 4, 6, 5]]
    empty = compact_ground_truth({"image_id": 1, "height": 4, "width": 4, "annotations": []})
    assert empty["boxes"].shape == (0, 4) and empty["masks"] == [] and len(empty["labels"]) == 0
