import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from balloon_shapes.data.mapper import read_image
from balloon_shapes.data.shapes import ShapesDicts, ShapesSpec

ROOT = Path(__file__).resolve().parents[2]


def test_export_writes_a_coco_dataset_matching_the_records(script, tmp_path):
    out = tmp_path / "coco"
    proc = script("export_shapes.py", str(out), "--n", "5", "--size", "64")
    assert proc.returncode == 0, proc.stderr
    coco = COCO(str(out / "annotations.json"))
    assert len(coco.getImgIds()) == 5
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [
        "square",
        "circle",
        "triangle",
        "ellipse",
    ]
    records = ShapesDicts(0, 5, ShapesSpec(height=64, width=64))
    for rec in records:
        info = coco.loadImgs(rec["image_id"])[0]
        assert np.array_equal(read_image(str(out / info["file_name"])), rec["image"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=rec["image_id"]))
        assert len(anns) == len(rec["annotations"])
        for ann, src in zip(anns, rec["annotations"]):
            x0, y0, x1, y1 = src["bbox"]
            assert ann["bbox"] == [x0, y0, x1 - x0, y1 - y0]
            assert ann["category_id"] == src["category_id"] + 1
            assert np.array_equal(coco.annToMask(ann), mask_utils.decode(src["segmentation"]))
            assert ann["area"] == float(coco.annToMask(ann).sum())


def test_export_refuses_a_non_empty_folder(script, tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    proc = script("export_shapes.py", str(tmp_path), "--n", "2")
    assert proc.returncode == 2 and "not empty" in proc.stderr and "Traceback" not in proc.stderr
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == '["keep.txt"]'


def test_crowd_regions_survive_a_write_and_read_back(tmp_path):
    """A COCO val set with crowd regions (people in a stand), written and read back by the
    loader and by pycocotools: the crowds stay crowds, the rest stay single objects."""
    from balloon_shapes.data.coco import load_coco
    from balloon_shapes.data.coco_writer import coco_dict
    from balloon_shapes.structures import BoxMode

    crowd = np.zeros((40, 50), np.uint8)
    crowd[20:40, 10:45] = 1
    rle = mask_utils.encode(np.asfortranarray(crowd))
    rle["counts"] = rle["counts"].decode()
    record = {
        "file_name": "a.png", "image_id": 7, "height": 40, "width": 50,
        "annotations": [
            {"bbox": [2.0, 2.0, 12.0, 12.0], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0,
             "segmentation": [[2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0]], "iscrowd": 0},
            {"bbox": [10.0, 20.0, 45.0, 40.0], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 1,
             "segmentation": rle, "iscrowd": 1},
        ],
    }  # fmt: skip
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(coco_dict([record], ["person", "crowd"], with_files=False)))
    coco = COCO(str(path))
    assert [a["iscrowd"] for a in coco.loadAnns(coco.getAnnIds(imgIds=7))] == [0, 1]
    (read,) = load_coco(str(path), str(tmp_path))
    assert [a["iscrowd"] for a in read["annotations"]] == [0, 1]
