"""scripts/convert.py: VIA, COCO, LabelMe and YOLO round trips keep every polygon, class and
negative; what a format cannot hold is changed and said; bad inputs are one line."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from balloon_shapes.data import convert
from balloon_shapes.data.via import ViaOptions, load_via
from balloon_shapes.structures import segmentation_to_mask

CLASSES = ["balloon", "kite"]


def poly(xs, ys, cls):
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
        "region_attributes": {"kind": cls},
    }


@pytest.fixture
def via_folder(tmp_path):
    """A VIA 2.x project: two classes as a radio attribute with ids, polygons, a circle, a rect,
    an image without regions, a non-ASCII name, sizes of both orientations."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sizes = {"a.jpg": (90, 160), "bé.png": (200, 120), "empty.jpg": (64, 64)}
    for name, (h, w) in sizes.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name)
    regions = {
        "a.jpg": [
            poly([10, 50, 60, 12], [5, 8, 70, 60], "1"),
            poly([100, 150, 130], [10, 20, 80], "2"),
            {
                "shape_attributes": {"name": "circle", "cx": 80, "cy": 45, "r": 20},
                "region_attributes": {"kind": "1"},
            },
        ],
        "bé.png": [
            {
                "shape_attributes": {"name": "rect", "x": 5, "y": 6, "width": 40, "height": 50},
                "region_attributes": {"kind": "2"},
            },
            poly([20.5, 90.25, 60], [100, 110, 190.75], "2"),
        ],
        "empty.jpg": [],
    }
    meta = {
        f"{n}{(folder / n).stat().st_size}": {
            "filename": n,
            "size": (folder / n).stat().st_size,
            "regions": r,
            "file_attributes": {},
        }
        for n, r in regions.items()
    }
    project = {
        "_via_settings": {},
        "_via_img_metadata": meta,
        "_via_attributes": {
            "region": {"kind": {"type": "radio", "options": {"1": "balloon", "2": "kite"}}},
            "file": {},
        },
    }
    (folder / "via.json").write_text(json.dumps(project))
    return folder


def run(quick_script, *args):
    proc = quick_script("convert.py", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def via_polygons(path):
    """{filename: [(class option, xs, ys)] for polygon regions}, classes by name."""
    data = json.loads(path.read_text())
    options = (data["_via_attributes"]["region"].get("kind") or {}).get("options", {})
    out = {}
    for entry in data["_via_img_metadata"].values():
        out[entry["filename"]] = [
            (
                options.get(r["region_attributes"].get("kind"))
                or r["region_attributes"].get("class"),
                r["shape_attributes"].get("all_points_x"),
                r["shape_attributes"].get("all_points_y"),
            )
            for r in entry["regions"]
        ]
    return out


def test_via_to_coco_to_via_keeps_polygons_classes_and_negatives(quick_script, via_folder):
    coco = via_folder.parent / "coco.json"
    proc = run(quick_script, f"input={via_folder / 'via.json'}", "to=coco", f"output={coco}")
    assert "1 VIA circles became 32-point polygons" in proc.stdout
    assert "1 VIA rects became 4-point polygons" in proc.stdout
    data = json.loads(coco.read_text())
    assert [c["name"] for c in data["categories"]] == CLASSES
    assert len(data["images"]) == 3 and len(data["annotations"]) == 5
    back = via_folder / "back.json"
    run(quick_script, f"input={coco}", "to=via", f"output={back}")
    before, after = via_polygons(via_folder / "via.json"), via_polygons(back)
    assert after["empty.jpg"] == [] and set(after) == set(before)
    for name, regions in before.items():
        kept = [r for r in regions if r[1] is not None]  # the polygons, vertex for vertex
        assert [r for r in after[name] if r in kept] == kept, name
        assert len(after[name]) == len(regions), name
    assert ("kite", [5, 45, 45, 5], [6, 6, 56, 56]) in after["bé.png"]  # the rect's corners
    assert sorted(len(r[1]) for r in after["a.jpg"]) == [3, 4, 32]  # the circle: 32 vertices


def test_coco_to_labelme_to_coco_is_exact_with_multipolygons_and_crowds(quick_script, via_folder):
    coco = via_folder.parent / "coco.json"
    run(quick_script, f"input={via_folder / 'via.json'}", "to=coco", f"output={coco}")
    data = json.loads(coco.read_text())
    first = data["annotations"][0]
    first["segmentation"].append([1.5, 1.5, 8.5, 1.5, 5.0, 9.0])  # an object in two parts
    crowd = np.zeros((90, 160), np.uint8)
    crowd[60:80, 100:150] = 1
    from balloon_shapes.structures import encode_rle

    data["annotations"].append(
        {
            "id": 99,
            "image_id": first["image_id"],
            "category_id": 2,
            "iscrowd": 1,
            "segmentation": encode_rle(crowd),
            "bbox": [100, 60, 50, 20],
            "area": 1000.0,
        }
    )
    coco.write_text(json.dumps(data))
    lm = via_folder.parent / "labelme"
    proc = run(quick_script, f"input={coco}", "to=labelme", f"output={lm}")
    assert "1 masks stored as RLE (COCO crowds) became outlines" in proc.stdout
    again = via_folder.parent / "again.json"
    run(quick_script, f"input={lm}", "to=coco", f"output={again}", f"classes={CLASSES}")
    back = json.loads(again.read_text())

    def polygons(d):
        names = {im["id"]: im["file_name"] for im in d["images"]}
        return {
            (names[a["image_id"]], a["category_id"], repr(a["segmentation"]))
            for a in d["annotations"]
            if not a["iscrowd"]
        }

    assert polygons(data) <= polygons(back)  # every polygon, multi-part object included
    assert len(back["images"]) == 3  # the negative too
    (extra,) = polygons(back) - polygons(data)  # the crowd, now an outline of its rectangle
    assert extra[1] == 2 and len(json.loads(extra[2])[0]) == 8


def test_via_circle_to_yolo_is_a_close_polygon(quick_script, via_folder, tmp_path):
    out = tmp_path / "yolo"
    run(quick_script, f"input={via_folder / 'via.json'}", "to=yolo", f"output={out}")
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["a.txt", "bé.txt", "empty.txt"]
    assert (out / "labels" / "empty.txt").read_text() == ""
    ds = convert.read(str(out / "data.yaml"))
    assert ds.classes == CLASSES
    record = next(r for r in ds.records if r["file_name"].endswith("a.jpg"))
    circle = np.zeros((90, 160), np.uint8)
    cv2.circle(circle, (80, 45), 20, 1, -1)  # VIA's circle in pixel indices
    ious = []
    for ann in record["annotations"]:
        mask = segmentation_to_mask(ann["segmentation"], 90, 160)
        ious.append((mask & circle).sum() / (mask | circle).sum())
    assert max(ious) >= 0.95


BAD = [
    ("not a format", lambda d: (d / "x.json", json.dumps({"hello": 1})), "not VIA, COCO"),
    (
        "missing image",
        lambda d: (
            d / "c.json",
            json.dumps(
                {
                    "images": [{"id": 1, "file_name": "gone.jpg", "height": 5, "width": 5}],
                    "annotations": [],
                    "categories": [{"id": 1, "name": "a"}],
                }
            ),
        ),
        "gone.jpg is missing",
    ),
    (
        "2-point polygon",
        lambda d: (
            d / "lm.json",
            json.dumps(
                {
                    "shapes": [{"label": "a", "points": [[1, 1], [5, 5]], "shape_type": "polygon"}],
                    "imagePath": "a.jpg",
                    "imageHeight": 90,
                    "imageWidth": 160,
                }
            ),
        ),
        "polygon with 2 points",
    ),
]


@pytest.mark.parametrize("name, make, message", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_are_one_line_and_write_nothing(quick_script, via_folder, name, make, message):
    path, text = make(via_folder)
    path.write_text(text)
    out = via_folder.parent / "out.json"
    proc = quick_script("convert.py", f"input={path}", "to=coco", f"output={out}")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr[-1500:]
    assert not out.exists()


def test_class_not_in_the_list_and_existing_output_refused(quick_script, via_folder, tmp_path):
    proc = quick_script(
        "convert.py",
        f"input={via_folder / 'via.json'}",
        "to=coco",
        f"output={tmp_path / 'o.json'}",
        "classes=[balloon]",
    )
    assert proc.returncode == 2 and "'kite' not in classes" in proc.stderr
    (tmp_path / "o.json").write_text("mine")
    proc = quick_script(
        "convert.py", f"input={via_folder / 'via.json'}", "to=coco", f"output={tmp_path / 'o.json'}"
    )
    assert proc.returncode == 2 and "exists" in proc.stderr
    assert (tmp_path / "o.json").read_text() == "mine"


@pytest.mark.parametrize("fmt", ["via_export", "via1"])
def test_via_exports_read_back_as_the_project_did(quick_script, via_folder, fmt):
    """VIA's own export forms (no attribute definitions; 1.x: regions keyed by index, as the
    balloon set's via_region_data.json): the same polygons and classes come back, by our
    converter (class attribute found without definitions) and by the training loader."""
    coco = via_folder.parent / "coco.json"
    run(quick_script, f"input={via_folder / 'via.json'}", "to=coco", f"output={coco}")
    out = via_folder / f"{fmt}.json"
    run(quick_script, f"input={coco}", f"to={fmt}", f"output={out}")
    data = json.loads(out.read_text())
    assert "_via_attributes" not in data and "_via_img_metadata" not in data
    regions = [e["regions"] for e in data.values()]
    assert all(isinstance(r, dict if fmt == "via1" else list) for r in regions)
    again = via_folder.parent / "again.json"
    run(quick_script, f"input={out}", "to=coco", f"output={again}")
    first, second = json.loads(coco.read_text()), json.loads(again.read_text())
    assert [c["name"] for c in second["categories"]] == [c["name"] for c in first["categories"]]

    def key(a):  # VIA vertices keep 3 decimals (the circle's 32 points had more)
        return a["image_id"], a["category_id"], [np.round(p, 3).tolist() for p in a["segmentation"]]

    assert sorted(map(key, second["annotations"])) == sorted(map(key, first["annotations"]))
    assert len(second["images"]) == len(first["images"])  # the image without objects too
    records, _ = load_via(str(via_folder), ViaOptions(CLASSES, "class", out.name))
    assert sum(len(r["annotations"]) for r in records) == len(first["annotations"])


def test_an_exports_class_is_the_one_attribute_every_region_fills():
    def region(**attributes):
        return {"shape_attributes": {}, "region_attributes": attributes}

    regions = [region(cls="a", note="odd", score=""), region(cls="b", score="")]
    assert convert.filled_by_every_region(regions) == "cls"  # "note": one region only
    assert convert.filled_by_every_region([region(cls="a", kind="x")]) is None  # two: unsure
    assert convert.filled_by_every_region([region(cls=" ")]) is None
    assert convert.filled_by_every_region([]) is None  # no region: one class
