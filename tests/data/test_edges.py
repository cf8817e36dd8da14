"""Edge cases of the VIA shapes, clipping, region classes and the mapper's targets, checked on
the pure functions (each case is one a mutation test showed no other test noticed)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from balloon_shapes.data.mapper import Augment, map_record, pil_to_rgb, targets
from balloon_shapes.data.via import (
    ViaError,
    ViaOptions,
    ViaReport,
    clip_polygon,
    entry_record,
    region_class,
    shape_polygon,
    via_entries,
)

W = "f.jpg: region 0"


@pytest.mark.parametrize(
    "shape, message",
    [
        (
            {"name": "polygon", "all_points_x": [1, "a", 3], "all_points_y": [1, 2, 3]},
            "non-numeric all_points_x",
        ),
        (
            {"name": "polygon", "all_points_x": [1, 2, 3], "all_points_y": [1, None, 3]},
            "non-numeric all_points_y",
        ),
        ({"name": "polygon", "all_points_y": [1, 2, 3]}, "0 x but 3 y coordinates"),
        ({"name": "polygon", "all_points_x": [1, 2, 3]}, "3 x but 0 y coordinates"),
        ({"name": "rect", "x": 1, "y": 1, "width": "w", "height": 2}, "non-numeric rect"),
        ({"name": "circle", "cx": 1, "cy": 1}, "non-numeric circle"),
        ({"name": "ellipse", "cx": 1, "cy": 1, "rx": 2}, "non-numeric ellipse"),
        (
            {"name": "ellipse", "cx": 1, "cy": 1, "rx": 2, "ry": 1, "theta": "x"},
            "non-numeric theta",
        ),
        ({"name": "circle", "cx": 1, "cy": 1, "r": float("inf")}, "non-finite circle"),
    ],
)
def test_bad_shapes_name_the_region_and_the_field(shape, message):
    with pytest.raises(ViaError) as err:
        shape_polygon(shape, W)
    assert str(err.value) == f"{W}: {message}"


def test_circle_and_ellipse_vertices():
    pts = shape_polygon({"name": "circle", "cx": 10, "cy": 20, "r": 5}, W)
    assert pts[0] == pytest.approx((15, 20)) and pts[8] == pytest.approx((10, 25))
    pts = shape_polygon(
        {"name": "ellipse", "cx": 0, "cy": 0, "rx": 4, "ry": 2, "theta": math.pi / 2}, W
    )
    assert pts[0] == pytest.approx((0, 4), abs=1e-9) and pts[8] == pytest.approx((-2, 0), abs=1e-9)


def test_closed_outlines_drop_only_a_repeated_last_point():
    closed = {"name": "polyline", "all_points_x": [0, 4, 4, 0], "all_points_y": [0, 0, 4, 0]}
    assert shape_polygon(closed, W) == [(0, 0), (4, 0), (4, 4)]
    with pytest.raises(ViaError, match="polyline with 2 points"):
        shape_polygon({"name": "polyline", "all_points_x": [0, 4, 0], "all_points_y": [0, 0, 0]}, W)


@pytest.mark.parametrize(
    "xs, ys, outside",
    [
        ([-0.5, -0.5, -1], [1, 2, 3], True),  # shifted x at most 0: left of the image
        ([-0.4, -0.4, -1], [1, 2, 3], False),  # reaches 0.1 px in
        ([9.5, 10, 11], [1, 2, 3], True),  # shifted x from 10 = width: right of it
        ([9.4, 10, 11], [1, 2, 3], False),
        ([1, 2, 3], [-0.5, -0.5, -1], True),
        ([1, 2, 3], [-0.4, -0.4, -1], False),
        ([1, 2, 3], [7.5, 8, 9], True),  # height 8
        ([1, 2, 3], [7.4, 8, 9], False),
    ],
)
def test_regions_touching_the_border_from_outside_are_errors(xs, ys, outside):
    pts = list(zip(xs, ys))
    if outside:
        with pytest.raises(ViaError, match="entirely outside the 10x8 image"):
            clip_polygon(pts, 10, 8, W)
    else:
        flat = clip_polygon(pts, 10, 8, W)
        assert all(0 <= v <= 10 for v in flat[0::2]) and all(0 <= v <= 8 for v in flat[1::2])


def test_checkbox_class_needs_exactly_one_ticked():
    options = ViaOptions(["cat", "dog"], "kind")
    assert region_class({"kind": {"cat": True, "dog": False}}, options, {}) == "cat"
    assert region_class({"kind": {"cat": True, "dog": True}}, options, {}) is None
    assert region_class({"kind": "  "}, options, {}) is None


def test_entries_need_both_filename_and_regions():
    with pytest.raises(ViaError, match="entries need 'filename' and 'regions'"):
        via_entries({"a": {"filename": "a.jpg"}}, "v.json")
    with pytest.raises(ViaError, match="entries need"):
        via_entries({"a": {"regions": []}}, "v.json")


def test_an_unknown_class_region_skips_only_itself(tmp_path):
    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    rect = {"name": "rect", "x": 2, "y": 2, "width": 5, "height": 5}
    other = {"name": "rect", "x": 10, "y": 10, "width": 5, "height": 5}
    entry = {
        "filename": "a.png",
        "regions": [
            {"shape_attributes": rect, "region_attributes": {"kind": "kite"}},
            {"shape_attributes": rect, "region_attributes": {"kind": "cat"}},
            {"shape_attributes": other, "region_attributes": {"kind": "cat"}},
        ],
    }
    report = ViaReport()
    path = str(tmp_path / "a.png")
    record = entry_record(entry["regions"], path, 7, ViaOptions(["cat"], "kind"), {}, report)
    assert len(record["annotations"]) == 2 and report.images == 1 and report.negatives == 0
    assert len(report.problems) == 1 and "kite" in report.problems[0]  # distinct: no duplicate
    assert record["annotations"][0]["iscrowd"] == 0 and record["image_id"] == 7
    assert report.instances == {"cat": 2}


def record(anns, **extra):
    return {
        "image": np.zeros((10, 12, 3), np.uint8),
        "height": 10,
        "width": 12,
        "image_id": 3,
        "annotations": anns,
        **extra,
    }


def test_targets_defaults_dtypes_and_crowds():
    seg = [[1, 1, 5, 1, 5, 5, 1, 5]]
    anns = [
        {"bbox": [1, 1, 5, 5], "segmentation": seg, "category_id": 0},  # no bbox_mode: XYXY
        {"bbox": [1, 1, 4, 4], "bbox_mode": 1, "segmentation": seg, "category_id": 1},
        {"bbox": [0, 0, 9, 9], "bbox_mode": 0, "segmentation": seg, "category_id": 0, "iscrowd": 1},
    ]
    t = targets(record(anns))
    assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
    assert t["boxes"].tolist() == [[1, 1, 5, 5], [1, 1, 5, 5]] and t["labels"].tolist() == [1, 2]
    assert int(t["image_id"]) == 3 and t["masks"].shape == (2, 10, 12)
    empty = targets({k: v for k, v in record([]).items() if k != "annotations"})
    assert empty["boxes"].shape == (0, 4) and empty["labels"].dtype == torch.int64


def test_augment_probability_one_always_and_zero_never():
    rec = record([])
    rec["image"][:, :6] = 200
    flipped, _ = map_record(rec, Augment(hflip=1.0), np.random.default_rng(0))
    kept, _ = map_record(rec, Augment(hflip=0.0), np.random.default_rng(0))
    assert flipped[0, 0, -1] > 0.5 and kept[0, 0, 0] > 0.5 and kept[0, 0, -1] == 0


def test_float_and_16_bit_images_become_three_channel_uint8():
    deep = Image.fromarray(np.array([[0, 65535, 300]], np.uint16))
    assert pil_to_rgb(deep).tolist() == [[[0, 0, 0], [255, 255, 255], [1, 1, 1]]]
    floats = Image.fromarray(np.array([[-5.0, 100.5, 300.0]], np.float32))
    out = pil_to_rgb(floats)
    assert out.dtype == np.uint8 and out.tolist() == [[[0, 0, 0], [100, 100, 100], [255, 255, 255]]]


def test_32_bit_gray_is_clipped_to_16_bits_then_scaled():
    wide = Image.fromarray(np.array([[-5, 70000, 512]], np.int32))
    assert wide.mode == "I"
    out = pil_to_rgb(wide)
    assert out.dtype == np.uint8 and out.shape == (1, 3, 3)
    assert out[..., 0].tolist() == [[0, 255, 2]]
    deep = pil_to_rgb(Image.fromarray(np.array([[65535]], np.uint16)))
    assert deep.dtype == np.uint8


def test_grayscale_augment_keeps_three_channels():
    rec = record([])
    rec["image"][:] = (200, 10, 10)
    image, _ = map_record(rec, Augment(grayscale=1.0), np.random.default_rng(0))
    assert image.shape == (3, 10, 12) and torch.equal(image[0], image[2])


@pytest.mark.parametrize(
    "xs, ys, message",
    [
        ([3], [4], "polygon with 1 points"),
        ([3, 3], [4, 4], "polygon with 1 points"),  # a repeated closing point is dropped
    ],
)
def test_degenerate_polygons_count_their_points(xs, ys, message):
    with pytest.raises(ViaError, match=message):
        shape_polygon({"name": "polygon", "all_points_x": xs, "all_points_y": ys}, W)


def test_a_region_without_shape_attributes_is_a_one_line_error(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    entry = {"filename": "a.png", "regions": [{"region_attributes": {}}]}
    with pytest.raises(ViaError, match="region 0: unknown shape None"):
        entry_record(entry["regions"], str(tmp_path / "a.png"), 0, ViaOptions(), {}, ViaReport())
