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
