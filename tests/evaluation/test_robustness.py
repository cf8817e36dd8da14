"""Contrast binning and recall on objects of known contrast, with synthetic predictions."""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from balloon_shapes.evaluation.robustness import (
    CONTRAST_BINS,
    contrast_bin,
    found,
    object_contrast,
    recall_by_contrast,
    size_drop,
)


def square(x, y, s=10, size=64):
    m = np.zeros((size, size), np.uint8)
    m[y : y + s, x : x + s] = 1
    return m


def rle(m):
    return mask_utils.encode(np.asfortranarray(m))


@pytest.mark.parametrize(
    "level, expected_bin", [(104, 0), (112, 1), (130, 2), (150, 3), (200, 4), (20, 4)]
)
def test_objects_of_known_contrast_land_in_their_bin(level, expected_bin):
    gray = np.full((64, 64), 100.0, np.float32)  # background
    mask = square(20, 20)
    gray[mask.astype(bool)] = level
    c = object_contrast(gray, mask)
    assert c == pytest.approx(abs(level - 100))
    assert contrast_bin(c) == expected_bin
    lo, hi = CONTRAST_BINS[expected_bin], CONTRAST_BINS[expected_bin + 1]
    assert lo <= c < hi


def test_ring_only_sees_the_surroundings():
    gray = np.zeros((64, 64), np.float32)
    gray[:, 32:] = 200  # far away: outside the 5 px ring
    mask = square(5, 20)
    gray[mask.astype(bool)] = 50
    assert object_contrast(gray, mask) == pytest.approx(50)


def test_recall_per_bin_with_synthetic_predictions():
    gts = [rle(square(0, 0)), rle(square(20, 20)), rle(square(40, 40))]
    pred = {
        "masks": [rle(square(0, 0)), rle(square(41, 41))],
        "scores": np.array([0.9, 0.8]),
        "labels": np.array([1, 1]),
    }
    hits = found(pred, {"masks": gts, "labels": [1, 1, 1]}, 0.5)
    assert hits.tolist() == [True, False, True]  # 81/119 IoU at (41,41): still matched
    weak = {**pred, "scores": np.array([0.9, 0.3])}
    assert found(weak, {"masks": gts, "labels": [1, 1, 1]}, 0.5).tolist() == [True, False, False]
    assert found(weak, {"masks": gts, "labels": [1, 1, 1]}, 0.2).tolist() == [True, False, True]
    rows = recall_by_contrast(
        np.array([3.0, 3.0, 100.0]), {"rgb": hits, "gray": np.array([False, False, True])}
    )
    assert rows[0] == {"contrast": "0-8", "objects": 2, "recall_rgb": 0.5, "recall_gray": 0.0}
    assert rows[-1]["objects"] == 1 and rows[-1]["recall_gray"] == 1.0
    assert np.isnan(rows[1]["recall_rgb"])


def test_size_drop_skips_sizes_without_objects():
    rgb = {
        t: {"AP": 0.8, "AP50": 0.9, "APs": 0.5, "APm": 0.9, "APl": -1.0} for t in ("bbox", "segm")
    }
    gray = {
        t: {"AP": 0.6, "AP50": 0.8, "APs": 0.2, "APm": 0.85, "APl": -1.0} for t in ("bbox", "segm")
    }
    drop = size_drop(rgb, gray)["segm"]
    assert drop["APs"] == pytest.approx(0.3) and drop["APl"] is None
