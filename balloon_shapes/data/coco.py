"""COCO-format json + image folder -> Detectron2 dicts, with contiguous class ids.

Detectron2's convention: ``category_id`` in the dicts is contiguous (0..K-1); the metadata
keeps ``thing_dataset_id_to_contiguous_id`` to map predictions back to the json's ids.
Crowd annotations are kept with ``iscrowd: 1`` (training skips them, COCOeval ignores them).
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict

from balloon_shapes.download import Archive, Resource
from balloon_shapes.errors import DataError
from balloon_shapes.files import read_json
from balloon_shapes.structures import BoxMode


def _coco_classes() -> list[str]:
    """The 80 COCO thing classes in category-id order (Detectron2's contiguous order)."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    names = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
    return [n for n in names if n not in ("__background__", "N/A")]


COCO_CLASSES = _coco_classes()

# images.cocodataset.org publishes no checksums; the first download pins one (download.py).
COCO_VAL_IMAGES = Resource("http://images.cocodataset.org/zips/val2017.zip", "val2017.zip", "")
COCO_ANNOTATIONS = Resource(
    "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
    "annotations_trainval2017.zip",
    "",
)
ARCHIVES = (
    Archive(COCO_ANNOTATIONS, "coco", "annotations", ("instances_val2017.json",)),
    Archive(COCO_VAL_IMAGES, "coco", "val2017", ("000000000139.jpg",)),
)


class CocoError(DataError):
    """A COCO dataset that cannot be loaded; the message names the file."""


def read_coco_json(path: str) -> dict:
    """The parsed json, shared: the loader and the COCO api parse val2017 once, not twice.

    Treat it as read-only; whoever must change it copies it (see ``ground_truth``).
    """
    if not os.path.isfile(path):
        raise CocoError(
            f"{path}: missing COCO annotations; run `python scripts/download.py coco-val` "
            "or set data.root to a folder with annotations/ and val2017/"
        )
    stat = os.stat(path)
    return _parse(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)
def _parse(path: str, mtime_ns: int, size: int) -> dict:
    """One parse per version of a file (the key changes when the file does)."""
    data = read_json(path, CocoError)
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise CocoError(f"{path}: not a COCO file (needs images, annotations, categories)")
    return data


def category_maps(data: dict) -> tuple[list[str], dict[int, int]]:
    """Class names in category-id order and ``{dataset id: contiguous id}``."""
    cats = sorted(data["categories"], key=lambda c: c["id"])
    return [c["name"] for c in cats], {c["id"]: i for i, c in enumerate(cats)}


def load_coco(json_file: str, image_root: str) -> list[dict]:
    """Records of a COCO json sorted by image id (``data.limit`` keeps the first N),
    annotations in XYWH_ABS."""
    data = read_coco_json(json_file)
    _, to_contiguous = category_maps(data)
    per_image = defaultdict(list)
    for ann in data["annotations"]:
        per_image[ann["image_id"]].append(ann)
    images = sorted(data["images"], key=lambda im: im["id"])
    records = []
    for im in images:
        anns = [
            {
                "bbox": ann["bbox"],
                "bbox_mode": BoxMode.XYWH_ABS,
                "segmentation": ann["segmentation"],
                "category_id": to_contiguous[ann["category_id"]],
                "iscrowd": ann.get("iscrowd", 0),
            }
            for ann in per_image[im["id"]]
            if "segmentation" in ann
        ]
        records.append(
            {
                "file_name": os.path.join(image_root, im["file_name"]),
                "height": im["height"],
                "width": im["width"],
                "image_id": im["id"],
                "annotations": anns,
            }
        )
    return records


def coco_metadata(json_file: str) -> dict:
    """``thing_classes``, the id map, and the json itself (COCOeval reads the original)."""
    names, to_contiguous = category_maps(read_coco_json(json_file))
    return {
        "thing_classes": names,
        "thing_dataset_id_to_contiguous_id": to_contiguous,
        "json_file": json_file,
        "evaluator_type": "coco",
    }
