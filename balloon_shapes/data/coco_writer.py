"""Write Detectron2-format records as a COCO dataset: ``annotations.json`` + ``images/*.png``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from balloon_shapes.data.mapper import load_pixels
from balloon_shapes.files import new_folder, write_image, write_json
from balloon_shapes.structures import encode_rle, segmentation_to_mask, to_xyxy


def coco_annotation(ann: dict, ann_id: int, image_id: int, height: int, width: int) -> dict:
    """One COCO annotation: RLE segmentation, XYWH box, area, 1-based category id."""
    mask = segmentation_to_mask(ann["segmentation"], height, width)
    x0, y0, x1, y1 = to_xyxy(ann["bbox"], ann.get("bbox_mode", 0))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": ann["category_id"] + 1,
        "segmentation": encode_rle(mask),
        "area": float(mask.sum()),
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "iscrowd": int(ann.get("iscrowd", 0)),
    }


def coco_dict(records: Iterable[dict], class_names: Sequence[str], with_files: bool = True) -> dict:
    """Records -> a COCO ground-truth dict; images named ``images/<id>.png`` when exported."""
    images, annotations = [], []
    for rec in records:
        name = f"images/{rec['image_id']:06d}.png" if with_files else rec["file_name"]
        images.append(
            {
                "id": rec["image_id"],
                "file_name": name,
                "height": rec["height"],
                "width": rec["width"],
            }
        )
        for ann in rec.get("annotations", []):
            annotations.append(
                coco_annotation(
                    ann, len(annotations) + 1, rec["image_id"], rec["height"], rec["width"]
                )
            )
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def export_coco(records: Sequence[dict], class_names: Sequence[str], out_dir: str) -> str:
    """Write ``out_dir/annotations.json`` and PNGs; built in a temp dir, then moved into place."""
    with new_folder(out_dir) as tmp:
        for rec in records:
            write_image(os.path.join(tmp, "images", f"{rec['image_id']:06d}.png"), load_pixels(rec))
        write_json(os.path.join(tmp, "annotations.json"), coco_dict(records, class_names))
    return os.path.join(out_dir, "annotations.json")
