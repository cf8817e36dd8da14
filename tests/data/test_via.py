import json

import cv2
import numpy as np
import pytest

from balloon_shapes.data.balloon import load_via_folder
from balloon_shapes.data.balloon import main as check_main
from balloon_shapes.data.via import ViaError, ViaOptions, load_via
from balloon_shapes.structures import segmentation_to_mask

H, W = 60, 80


def write_image(path, seed=0):
    """A textured background with a drawn 'balloon', saved as JPEG."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    cv2.ellipse(image, (40, 30), (12, 16), 0, 0, 360, (30, 30, 220), -1)
    cv2.imwrite(str(path), image)


def polygon(xs, ys):
    return {"name": "polygon", "all_points_x": xs, "all_points_y": ys}


def via1(entries):
    """VIA 1.x export: regions as an object keyed "0", "1", ..."""
    return {
        f"{name}123": {
            "filename": name,
            "size": -1,
            "file_attributes": {},
            "regions": {str(i): r for i, r in enumerate(regions)},
        }
        for name, regions in entries.items()
    }


def via2_project(entries, attributes=None):
    """VIA 2.x project file (often saved as via_region_data.json)."""
    meta = {
        f"{name}123": {"filename": name, "size": 1, "file_attributes": {}, "regions": regions}
        for name, regions in entries.items()
    }
    return {
        "_via_settings": {},
        "_via_img_metadata": meta,
        "_via_attributes": {"region": attributes or {}, "file": {}},
    }


def region(shape, **attrs):
    return {"shape_attributes": shape, "region_attributes": attrs}


def make(folder, data, images=("a.jpg",), name="via_region_data.json"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        write_image(folder / im, i)
    (folder / name).write_text(json.dumps(data))
    return folder


def test_via1_polygon_boxes_masks_and_pixel_centres(tmp_path):
    xs, ys = [30, 50, 50, 30, 30], [10, 10, 40, 40, 10]  # closed: repeats the first point
    folder = make(
        tmp_path, via1({"a.jpg": [region(polygon(xs, ys))], "b.jpg": []}), images=("a.jpg", "b.jpg")
    )
    records, report = load_via(str(folder))
    assert [r["height"] for r in records] == [H, H] and records[0]["width"] == W
    (ann,) = records[0]["annotations"]
    assert ann["segmentation"] == [[30.5, 10.5, 50.5, 10.5, 50.5, 40.5, 30.5, 40.5]]
    assert ann["bbox"] == [30.5, 10.5, 50.5, 40.5] and ann["bbox_mode"] == 0
    assert ann["category_id"] == 0
    mask = segmentation_to_mask(ann["segmentation"], H, W)
    assert mask[11:40, 31:50].all() and mask.sum() == pytest.approx(20 * 30, rel=0.1)
    assert records[1]["annotations"] == [] and report.negatives == 1  # negatives kept


@pytest.mark.parametrize(
    "shape, expected",
    [
        ({"name": "rect", "x": 10, "y": 5, "width": 30, "height": 20}, ("rect", (10, 5, 40, 25))),
        ({"name": "circle", "cx": 40, "cy": 30, "r": 10}, ("ellipse", (40, 30, 10, 10, 0))),
        (
            {"name": "ellipse", "cx": 40, "cy": 30, "rx": 20, "ry": 8, "theta": 0.5},
            ("ellipse", (40, 30, 20, 8, 0.5)),
        ),
        (
            dict(polygon([20, 60, 40], [50, 50, 10]), name="polyline"),
            ("poly", [(20, 50), (60, 50), (40, 10)]),
        ),
    ],
)
def test_every_shape_type_gives_the_right_mask(tmp_path, shape, expected):
    folder = make(tmp_path, via2_project({"a.jpg": [region(shape)]}))
    records, _ = load_via(str(folder))
    got = segmentation_to_mask(records[0]["annotations"][0]["segmentation"], H, W).astype(bool)
    ref = np.zeros((H, W), np.uint8)
    kind, p = expected
    if kind == "rect":
        ref[p[1] : p[3], p[0] : p[2]] = 1
    elif kind == "ellipse":
        cv2.ellipse(ref, (p[0], p[1]), (p[2], p[3]), np.degrees(p[4]), 0, 360, 1, -1)
    else:
        cv2.fillPoly(ref, [np.array(p, np.int32)], 1)
    ref = ref.astype(bool)
    # the +0.5 pixel-centre shift moves edges by up to a pixel: IoU ~0.85 on these small shapes
    assert (got & ref).sum() / (got | ref).sum() > 0.8
    if kind == "rect":
        assert records[0]["annotations"][0]["bbox"] == [10.5, 5.5, 40.5, 25.5]


def test_class_from_strings_radio_ids_and_checkboxes(tmp_path):
    attrs = {"kind": {"type": "radio", "options": {"1": "cat", "2": "dog"}}}
    sq = polygon([10, 30, 30, 10], [10, 10, 30, 30])
    regions = [
        region(sq, kind="dog "),
        region(sq, kind="1"),
        region(sq, kind={"dog": True}),
        region(sq),
        region(sq, kind="bird"),
    ]
    folder = make(tmp_path, via2_project({"a.jpg": regions}, attrs))
    records, report = load_via(str(folder), ViaOptions(["cat", "dog"], "kind"))
    assert [a["category_id"] for a in records[0]["annotations"]] == [1, 0, 1]
    assert len(report.problems) >= 2  # no attribute, unknown class: skipped and reported
    assert report.instances == {"dog": 2, "cat": 1}


def test_partly_outside_is_clipped(tmp_path):
    folder = make(
        tmp_path, via1({"a.jpg": [region(polygon([-10, 30, 30, -10], [-5, -5, 100, 100]))]})
    )
    (ann,) = load_via(str(folder))[0][0]["annotations"]
    assert ann["bbox"] == [0.0, 0.0, 30.5, float(H)]


def test_percent_escaped_file_names(tmp_path):
    folder = make(tmp_path, via1({"my%20pic.jpg": []}), images=("my pic.jpg",))
    assert load_via(str(folder))[0][0]["file_name"].endswith("my pic.jpg")


BAD = [
    ("missing json", None, "missing VIA json"),
    ("not json", "{oops", "not valid JSON"),
    ("not via", json.dumps({"a": {"x": 1}}), "not a VIA file"),
    ("missing image", via1({"gone.jpg": []}), "missing"),
    ("unreadable image", via1({"bad.jpg": []}), "not a readable image"),
    ("two points", via1({"a.jpg": [region(polygon([1, 5], [1, 5]))]}), "at least 3"),
    ("x/y lengths", via1({"a.jpg": [region(polygon([1, 5, 9], [1, 5]))]}), "3 x but 2 y"),
    ("non-numeric", via1({"a.jpg": [region(polygon([1, "b", 9], [1, 5, 3]))]}), "non-numeric"),
    ("unknown shape", via1({"a.jpg": [region({"name": "star"})]}), "unknown shape 'star'"),
    ("outside", via1({"a.jpg": [region(polygon([100, 120, 110], [1, 5, 9]))]}), "entirely outside"),
]


@pytest.mark.parametrize("case, content, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gives_a_one_line_error_naming_the_file(tmp_path, case, content, message):
    tmp_path.mkdir(exist_ok=True)
    write_image(tmp_path / "a.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    if content is not None:
        (tmp_path / "via_region_data.json").write_text(
            content if isinstance(content, str) else json.dumps(content)
        )
    with pytest.raises(ViaError) as err:
        load_via(str(tmp_path))
    text = str(err.value)
    assert message in text and "\n" not in text and str(tmp_path) in text
    if "region" in case or case in (
        "two points",
        "x/y lengths",
        "non-numeric",
        "unknown shape",
        "outside",
    ):
        assert "region 0" in text


def test_splits_and_check_summary(tmp_path, capsys):
    sq = polygon([10, 30, 30, 10], [10, 10, 30, 30])
    make(
        tmp_path / "train",
        via1({"a.jpg": [region(sq), region(sq)], "b.jpg": []}),
        images=("a.jpg", "b.jpg"),
    )
    make(tmp_path / "val", via2_project({"a.jpg": [region(sq)]}))
    assert len(load_via_folder(str(tmp_path), "train")) == 2
    assert check_main(["--check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 images (1 without regions), instances balloon: 2" in out and "duplicate" in out
    with pytest.raises(ViaError, match="download.py balloon"):
        load_via_folder(str(tmp_path / "nowhere"), "train")


def test_report_format_is_one_summary_line_then_one_line_per_issue():
    from collections import Counter

    from balloon_shapes.data.via import ViaReport, format_report

    report = ViaReport(3, 1, Counter({"dog": 2, "cat": 1}), ["p1"], ["e1"])
    assert format_report(report, "train").splitlines() == [
        "train: 3 images (1 without regions), instances cat: 1, dog: 2, 1 errors, 1 problems",
        "  error: e1",
        "  p1",
    ]
    assert "instances none," in format_report(ViaReport(), "val")


def test_class_option_ids_with_empty_descriptions(tmp_path):
    """VIA's attribute editor leaves option descriptions empty or free text: the id is the class."""
    attrs = {"kind": {"type": "dropdown", "options": {"cat": "", "dog": "a pet"}}}
    sq = polygon([10, 30, 30, 10], [10, 10, 30, 30])
    folder = make(tmp_path, via2_project({"a.jpg": [region(sq, kind="dog")]}, attrs))
    records, _ = load_via(str(folder), ViaOptions(["cat", "dog"], "kind"))
    assert [a["category_id"] for a in records[0]["annotations"]] == [1]
