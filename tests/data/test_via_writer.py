"""Masks -> polygons -> a VIA 2.x project that VIA opens and our loader reads back."""

import json
from collections import Counter

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from balloon_shapes.data import shapes, via_writer
from balloon_shapes.data.polygons import mask_outline
from balloon_shapes.data.via import ViaOptions, load_via
from balloon_shapes.demo.annotate import regions_of, with_classes
from balloon_shapes.structures import Instances, segmentation_to_mask
from tests import via_acceptance


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_outline_of_a_disk_follows_the_pixel_edges():
    """Hand-computed: a polygon through the boundary pixels' centres loses half a pixel all
    round (IoU 0.88 for a radius-10 disk at 1 px tolerance); along the edges it does not."""
    mask = np.zeros((60, 60), np.uint8)
    cv2.circle(mask, (30, 30), 10, 1, -1)
    outline = mask_outline(mask, 1.0)
    back = segmentation_to_mask([outline.flat()], 60, 60)
    assert iou(back, mask.astype(bool)) > 0.93
    assert min(outline.xs) == pytest.approx(20.125) and max(outline.xs) == pytest.approx(40.875)
    assert (outline.parts, outline.holes) == (1, 0)


def test_outline_keeps_the_largest_part_and_fills_holes():
    mask = np.zeros((50, 50), np.uint8)
    mask[5:20, 5:20] = 1
    mask[10:13, 10:13] = 0  # a hole
    mask[30:33, 30:33] = 1  # a second, smaller part
    outline = mask_outline(mask, 0.5)
    assert (outline.parts, outline.holes) == (2, 1)
    assert sorted(set(outline.xs)) == [5.125, 19.875]  # the square's edges (1/8 px inside)
    assert mask_outline(np.zeros((5, 5), np.uint8), 1.0) is None
    line = np.zeros((20, 40), np.uint8)
    line[5, 5:30] = 1  # thinner than the tolerance: still a polygon with area
    assert len(mask_outline(line, 2.0).xs) >= 3


def shapes_instances(i):
    record = shapes.to_record(0, i, shapes.ShapesSpec())
    h, w = record["height"], record["width"]
    masks = np.stack([segmentation_to_mask(a["segmentation"], h, w) for a in record["annotations"]])
    labels = np.array([a["category_id"] + 1 for a in record["annotations"]])
    scores = np.linspace(0.99, 0.6, len(labels))
    return record, Instances(np.zeros((len(labels), 4)), labels, scores, masks)


def write_project(tmp_path, n=6, tolerance=1.0):
    """Shapes val images with their masks standing in for a model's, as annotate writes them."""
    cfg = OmegaConf.create({"score_thresh": 0.5, "tolerance": tolerance})
    project = with_classes(None, "via_project.json", list(shapes.CLASSES))
    originals, notes = [], Counter()
    for i in range(n):
        record, inst = shapes_instances(i)
        path = tmp_path / f"im{i}.png"
        cv2.imwrite(str(path), record["image"][:, :, ::-1])
        regions = regions_of(inst, list(shapes.CLASSES), cfg, notes)
        via_writer.put_entry(project, via_writer.file_entry(str(tmp_path), str(path), regions))
        originals.append(inst)
    (tmp_path / "via_project.json").write_text(json.dumps(project))
    return originals


def test_project_read_back_gives_the_masks_and_classes(tmp_path):
    originals = write_project(tmp_path)
    records, report = load_via(
        str(tmp_path), ViaOptions(list(shapes.CLASSES), "class", "via_project.json")
    )
    assert report.problems == [] and len(records) == len(originals)
    ious = []
    for record, inst in zip(records, originals):
        h, w = record["height"], record["width"]
        assert [a["category_id"] + 1 for a in record["annotations"]] == list(inst.labels)
        for ann, mask in zip(record["annotations"], inst.masks):
            ious.append(iou(segmentation_to_mask(ann["segmentation"], h, w), mask))
    assert min(ious) >= 0.9, sorted(ious)[:3]


def test_written_project_passes_via_loader_checks(tmp_path):
    write_project(tmp_path, n=3)
    assert via_acceptance.problems((tmp_path / "via_project.json").read_text()) == []


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (lambda p: p.pop("_via_attributes"), "corrupt file"),
        (lambda p: next(iter(p["_via_img_metadata"].values())).pop("file_attributes"), "dropped"),
        (lambda p: p["_via_image_id_list"].append("ghost.png1"), "throws"),
        (lambda p: p["_via_settings"].update(extra={"a": 1}), "no such settings group"),
        (lambda p: p["_via_settings"]["ui"].update(grid={"a": 1}), "no such object"),
        (lambda p: p["_via_img_metadata"].update(bad=p["_via_img_metadata"].popitem()[1]), "key"),
        (
            lambda p: next(iter(p["_via_img_metadata"].values()))["regions"][0][
                "region_attributes"
            ].update({"class": "dog"}),
            "not one of its options",
        ),
    ],
)
def test_via_checks_catch_what_via_would_refuse(tmp_path, break_it, expected):
    """The acceptance checks themselves, each on a project broken one way."""
    write_project(tmp_path, n=2)
    project = json.loads((tmp_path / "via_project.json").read_text())
    break_it(project)
    found = via_acceptance.problems(json.dumps(project))
    assert any(expected in p for p in found), found


def test_existing_project_keeps_its_attributes_and_widens_classes():
    project = via_writer.new_project("mine", ["balloon"])
    project["_via_attributes"]["region"]["class"]["options"]["kite"] = "my kite"
    project["_via_attributes"]["file"]["weather"] = {"type": "text"}
    merged = with_classes(project, "mine.json", ["balloon", "person"])
    options = merged["_via_attributes"]["region"]["class"]["options"]
    assert options == {"balloon": "balloon", "kite": "my kite", "person": "person"}
    assert "weather" in merged["_via_attributes"]["file"]


def test_put_entry_replaces_in_place():
    project = via_writer.new_project("p", ["a"])
    for name in ("x.png", "y.png"):
        via_writer.put_entry(project, via_writer.image_entry(name, 10, []))
    via_writer.put_entry(project, via_writer.image_entry("x.png", 10, [{"r": 1}], review=True))
    assert project["_via_image_id_list"] == ["x.png10", "y.png10"]
    assert project["_via_img_metadata"]["x.png10"]["file_attributes"] == {"review": "yes"}
