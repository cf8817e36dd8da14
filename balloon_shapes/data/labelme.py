"""LabelMe json (one file per image) <-> Detectron2-format records.

LabelMe stores points in continuous image coordinates, as COCO does (labelme2coco copies them
unchanged), so no pixel-centre shift applies. Shapes of one object share a ``group_id``:
a multi-polygon object is written that way and read back as one annotation. Polygons,
rectangles and circles are read; lines, points and masks are not objects with an area here.
"""

from __future__ import annotations

import math
import os
from collections import Counter

from balloon_shapes.errors import DataError
from balloon_shapes.files import read_json
from balloon_shapes.structures import BoxMode

LABELME_VERSION = "5.4.1"
CIRCLE_POINTS = 32


class LabelMeError(DataError):
    """A LabelMe file that cannot be converted; the message names it."""


def json_files(path: str) -> list[str]:
    """One LabelMe json, or every ``*.json`` in a folder (sorted)."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".json"))
        if not files:
            raise LabelMeError(f"{path}: folder has no LabelMe .json files")
        return files
    return [path]


def shape_points(shape: dict, where: str) -> list[tuple[float, float]] | None:
    """A LabelMe shape as polygon vertices; None for shapes without an area (line, point)."""
    points = shape.get("points")
    kind = shape.get("shape_type") or "polygon"
    try:
        pts = [(float(x), float(y)) for x, y in points]
    except (TypeError, ValueError):
        raise LabelMeError(f"{where}: points must be [[x, y], ...]") from None
    if kind == "polygon":
        if len(pts) < 3:
            raise LabelMeError(f"{where}: polygon with {len(pts)} points (needs at least 3)")
        return pts
    if kind == "rectangle" and len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    if kind == "circle" and len(pts) == 2:
        (cx, cy), (px, py) = pts
        r = math.hypot(px - cx, py - cy)
        return [
            (
                cx + r * math.cos(2 * math.pi * k / CIRCLE_POINTS),
                cy + r * math.sin(2 * math.pi * k / CIRCLE_POINTS),
            )
            for k in range(CIRCLE_POINTS)
        ]
    return None


def read_file(path: str, classes: list[str] | None, notes: Counter) -> tuple[dict, list[str]]:
    """One LabelMe json -> (record with polygon annotations by class name, labels seen)."""
    data = read_json(path, LabelMeError)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise LabelMeError(f"{path}: not a LabelMe file (needs 'shapes' and 'imagePath')")
    image = os.path.join(os.path.dirname(path), str(data.get("imagePath", "")))
    if not data.get("imagePath") or not os.path.isfile(image):
        raise LabelMeError(f"{path}: image {data.get('imagePath')!r} is missing")
    objects: dict[object, dict] = {}
    for i, shape in enumerate(data["shapes"]):
        where = f"{path}: shape {i}"
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise LabelMeError(f"{where}: needs a 'label' string and 'points'")
        pts = shape_points(shape, where)
        if pts is None:
            notes[f"LabelMe {shape.get('shape_type')} shapes skipped (no area)"] += 1
            continue
        label = shape["label"].strip()
        if classes is not None and label not in classes:
            raise LabelMeError(f"{where}: class {label!r} not in {classes}")
        group = shape.get("group_id")
        key = (label, group) if group is not None else ("", i)
        obj = objects.setdefault(key, {"label": label, "segmentation": []})
        obj["segmentation"].append([v for xy in pts for v in xy])
    record = {
        "file_name": image,
        "height": int(data.get("imageHeight") or 0),
        "width": int(data.get("imageWidth") or 0),
        "annotations": [annotation(o["segmentation"], o["label"]) for o in objects.values()],
    }
    return record, [o["label"] for o in objects.values()]


def annotation(polygons: list[list[float]], label) -> dict:
    xs = [x for p in polygons for x in p[0::2]]
    ys = [y for p in polygons for y in p[1::2]]
    return {
        "bbox": [min(xs), min(ys), max(xs), max(ys)],
        "bbox_mode": BoxMode.XYXY_ABS,
        "segmentation": polygons,
        "category_id": label,  # a name until the class list is known
        "iscrowd": 0,
    }


def labelme_dict(record: dict, image_path: str, polygons: list[tuple[str, list]]) -> dict:
    """The LabelMe json of one image: ``polygons`` as (label, [flat polygon, ...]) per object."""
    shapes = []
    for group, (label, parts) in enumerate(polygons):
        for flat in parts:
            shapes.append(
                {
                    "label": label,
                    "points": [[x, y] for x, y in zip(flat[0::2], flat[1::2])],
                    "group_id": group if len(parts) > 1 else None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                    "mask": None,
                }
            )
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": record["height"],
        "imageWidth": record["width"],
    }
