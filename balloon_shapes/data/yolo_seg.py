"""YOLO segmentation text (Ultralytics' layout) <-> Detectron2-format records.

A dataset is ``data.yaml`` (``names``, and a split's image folder such as ``train: images``)
with ``labels/`` beside ``images/``: one ``<stem>.txt`` per image, a line per object,
``class x1 y1 x2 y2 ...`` normalised to the image's width and height. An image without a
label file, or with an empty one, is a negative. One polygon per line: an object in several
polygons is joined into one by zero-width links from each part's first vertex.
"""

from __future__ import annotations

import os

import yaml

from balloon_shapes.errors import DataError
from balloon_shapes.structures import BoxMode


class YoloError(DataError):
    """A YOLO dataset that cannot be converted; the message names the file."""


def read_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise YoloError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or "names" not in data:
        raise YoloError(f"{path}: not a YOLO data.yaml (needs 'names')")
    return data


def class_names(data: dict, path: str) -> list[str]:
    names = data["names"]
    if isinstance(names, dict):
        try:
            return [str(names[i]) for i in range(len(names))]
        except KeyError:
            raise YoloError(f"{path}: names must be numbered 0..{len(names) - 1}") from None
    if isinstance(names, list):
        return [str(n) for n in names]
    raise YoloError(f"{path}: names must be a list or a mapping")


def image_folder(data: dict, path: str, split: str) -> str:
    """The split's image folder (``path`` key relative to data.yaml, as Ultralytics reads it)."""
    if not isinstance(data.get(split), str):
        raise YoloError(f"{path}: no '{split}' image folder (split={split})")
    root = os.path.join(os.path.dirname(path), str(data.get("path") or "."))
    folder = os.path.normpath(os.path.join(root, data[split]))
    if not os.path.isdir(folder):
        raise YoloError(f"{path}: image folder {folder} is missing")
    return folder


def label_path(image: str) -> str:
    """Ultralytics' rule: the last ``images`` folder in the path becomes ``labels``."""
    head, sep, tail = image.rpartition(f"{os.sep}images{os.sep}")
    stem = os.path.splitext(tail if sep else os.path.basename(image))[0] + ".txt"
    return os.path.join(head, "labels", stem) if sep else os.path.join(os.path.dirname(image), stem)


def parse_line(line: str, width: int, height: int, n_classes: int, where: str) -> dict:
    values = line.split()
    try:
        cls, coords = int(values[0]), [float(v) for v in values[1:]]
    except ValueError:
        raise YoloError(f"{where}: not 'class x1 y1 x2 y2 ...'") from None
    if not 0 <= cls < n_classes:
        raise YoloError(f"{where}: class {cls} not in names (0..{n_classes - 1})")
    if len(coords) % 2 or len(coords) < 6:
        raise YoloError(f"{where}: {len(coords)} coordinates (a polygon needs 3 points or more)")
    flat = [v * (width if k % 2 == 0 else height) for k, v in enumerate(coords)]
    xs, ys = flat[0::2], flat[1::2]
    return {
        "bbox": [min(xs), min(ys), max(xs), max(ys)],
        "bbox_mode": BoxMode.XYXY_ABS,
        "segmentation": [flat],
        "category_id": cls,
        "iscrowd": 0,
    }


def joined(polygons: list[list[float]]) -> list[float]:
    """Several polygons as one: each part closed at its first vertex, then back along the
    first vertices (the links have no width, so the area is the parts')."""
    if len(polygons) == 1:
        return list(polygons[0])
    out: list[float] = []
    for p in polygons:
        out += list(p) + list(p[:2])
    for p in reversed(polygons[:-1]):
        out += list(p[:2])
    return out


def label_lines(record: dict, polygons: list[tuple[int, list]]) -> str:
    """The label file of one image: (class index, [flat polygon, ...]) per object."""
    w, h = record["width"], record["height"]
    lines = []
    for cls, parts in polygons:
        flat = joined(parts)
        coords = " ".join(f"{v / (w if k % 2 == 0 else h):.6f}" for k, v in enumerate(flat))
        lines.append(f"{cls} {coords}")
    return "".join(line + "\n" for line in lines)


def data_yaml(classes: list[str]) -> str:
    return yaml.safe_dump(
        {"path": ".", "train": "images", "nc": len(classes), "names": dict(enumerate(classes))},
        sort_keys=False,
        allow_unicode=True,
    )
