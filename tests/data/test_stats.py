"""python -m balloon_shapes.data.stats: counts and problems on hand-made cases."""

import cv2
import numpy as np

from balloon_shapes.data import stats
from balloon_shapes.structures import BoxMode
from tests.conftest import write_balloon_dataset


def square(x, y, side, cls=0):
    flat = [x, y, x + side, y, x + side, y + side, x, y + side]
    return {
        "bbox": [x, y, x + side, y + side],
        "bbox_mode": BoxMode.XYXY_ABS,
        "segmentation": [flat],
        "category_id": cls,
        "iscrowd": 0,
    }


def test_crossing_polygons_by_hand():
    assert stats.crosses_itself([0, 0, 10, 10, 10, 0, 0, 10])  # a bow tie
    assert not stats.crosses_itself([0, 0, 10, 0, 10, 10, 0, 10])
    assert not stats.crosses_itself([0, 0, 10, 0, 5, 5])  # a triangle: adjacent edges only
    assert stats.crosses_itself([0, 0, 4, 0, 4, 4, 2, -2, 0, 4])  # a spike through an edge
    assert not stats.crosses_itself([0, 0, 10, 0, 10, 10, 5, 0, 0, 10])  # touching, not crossing


def test_gather_counts_sizes_negatives_duplicates_and_bad_polygons(tmp_path):
    image = np.full((200, 300, 3), 90, np.uint8)
    for name in ("a.png", "copy.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), image if name != "b.png" else image + 1)
    bow = dict(square(0, 0, 10), segmentation=[[0, 0, 10, 10, 10, 0, 0, 10]])
    records = [
        {"file_name": str(tmp_path / "a.png"), "height": 200, "width": 300, "image_id": 1,
         "annotations": [square(0, 0, 31), square(50, 50, 40, 1), square(100, 90, 100)]},
        {"file_name": str(tmp_path / "copy.png"), "height": 200, "width": 300, "image_id": 2,
         "annotations": [square(280, 180, 30), square(5, 5, 20), square(5, 5, 20), bow]},
        {"file_name": str(tmp_path / "b.png"), "height": 200, "width": 300, "image_id": 3,
         "annotations": []},
    ]  # fmt: skip
    s = stats.gather("hand", records, ["box", "kite"])
    assert s.per_class == {"box": 6, "kite": 1}
    # areas: 31^2 small, 40^2 medium, 100^2 large, 30^2 (clipped by rasterising) small ...
    assert s.sizes[("box", "large")] == 1 and s.sizes[("kite", "medium")] == 1
    assert sum(n for (_, z), n in s.sizes.items() if z == "small") == 5
    assert s.negatives == [str(tmp_path / "b.png")]
    assert s.duplicate_images == [(str(tmp_path / "copy.png"), str(tmp_path / "a.png"))]
    assert s.duplicate_regions == [f"{tmp_path / 'copy.png'}: a region drawn 2 times"]
    assert s.outside == [f"{tmp_path / 'copy.png'}: object 0"]
    assert s.crossing == [f"{tmp_path / 'copy.png'}: object 3"]
    assert dict(s.per_image) == {3: 1, 4: 1, 0: 1}


def test_cli_on_a_via_dataset_writes_the_page(tmp_path, capsys):
    write_balloon_dataset(tmp_path / "balloon", n_train=3)
    out = tmp_path / "page"
    code = stats.main(["balloon_train", f"data.root={tmp_path / 'balloon'}", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "balloon_train: 3 images, 3 instances (0 crowd), 0 without annotations" in printed
    html = (out / "report.html").read_text()
    assert "Instances per class and size" in html and "data:image/jpeg;base64," in html


def test_unknown_dataset_is_one_line(capsys):
    assert stats.main(["nope_train"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope_train" in err[0]
