"""Test data that looks like real data: a VIA dataset of mixed sizes, modes and names.

``write_messy_via(root)`` writes ``root/train`` and ``root/val`` with:
- images of several sizes and aspect ratios (wide, tall, tiny, one ~ 1000 px),
- a JPEG stored sideways with EXIF orientation 6 (VIA annotates the displayed, upright image),
- gray, palette, CMYK, RGBA and 16-bit images, non-ASCII and space-containing file names,
- negatives (no regions, as ``[]`` and as ``{}``), a region whose class is not configured,
- every VIA shape (polygon, closed polyline repeating its first point, rect, circle, ellipse),
  coordinates slightly outside the image, VIA 2.x (train) and 1.x (val) layouts.

Every object is a solid ``COLOR`` patch drawn where its region says (in the displayed frame),
so a test can check that masks land on the object's pixels whatever the file's layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

COLOR = (220, 30, 40)  # the objects; backgrounds are dull noise far from it
EXIF_ORIENTATION = 0x0112


def _background(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(150, 230, (h, w, 3), dtype=np.uint8)  # brighter than COLOR in gray too


def _rect(x: int, y: int, w: int, h: int) -> dict:
    return {"name": "rect", "x": x, "y": y, "width": w, "height": h}


def _polygon(xs: list[int], ys: list[int], name: str = "polygon") -> dict:
    return {"name": name, "all_points_x": xs, "all_points_y": ys}


def _fill(image: np.ndarray, shape: dict) -> None:
    """Paint a region's pixels in COLOR (its interior, in pixel-index coordinates)."""
    import cv2

    if shape["name"] == "rect":
        x, y, w, h = shape["x"], shape["y"], shape["width"], shape["height"]
        image[max(y, 0) : y + h, max(x, 0) : x + w] = COLOR
    elif shape["name"] in ("circle", "ellipse"):
        rx = shape.get("r", shape.get("rx"))
        ry = shape.get("r", shape.get("ry"))
        cv2.ellipse(image, (shape["cx"], shape["cy"]), (rx, ry), 0, 0, 360, COLOR, -1)
    else:
        pts = np.array(list(zip(shape["all_points_x"], shape["all_points_y"])), np.int32)
        cv2.fillPoly(image, [pts], COLOR)


# (file name, (height, width), PIL mode written, shapes, how) per image; "how" picks a writer
TRAIN = [
    ("wide photo.jpg", (90, 200), "RGB", [_rect(20, 20, 50, 40)], "jpeg"),
    ("tall_ü€.png", (220, 100), "RGB", [_polygon([20, 70, 60, 25], [30, 40, 120, 110])], "png"),
    (
        "sideways.jpg",
        (160, 120),  # displayed (upright) size; stored 120 high and 160 wide, EXIF 6
        "RGB",
        [_rect(10, 90, 60, 50)],
        "exif6",
    ),
    ("gray.png", (120, 120), "L", [{"name": "circle", "cx": 60, "cy": 60, "r": 30}], "png"),
    ("cmyk.jpg", (100, 140), "CMYK", [_rect(-5, 30, 60, 40)], "jpeg"),  # starts left of 0
    (
        "rgba.png",
        (130, 90),
        "RGBA",
        [{"name": "ellipse", "cx": 45, "cy": 60, "rx": 30, "ry": 20}],
        "png",
    ),
    ("deep16.png", (100, 100), "I;16", [_rect(30, 30, 40, 40)], "png"),
    (
        "palette.png",
        (80, 160),
        "P",
        [_polygon([10, 60, 60, 10, 10], [10, 10, 60, 60, 10], "polyline")],  # closed, repeated
        "png",
    ),
    ("negative.jpg", (100, 150), "RGB", [], "jpeg"),
    ("unknown class.jpg", (110, 110), "RGB", [_rect(20, 20, 40, 40)], "jpeg"),  # class "kite"
]
VAL = [
    ("val wide.jpg", (96, 240), "RGB", [_rect(30, 20, 70, 50)], "jpeg"),
    ("val_tall_ß.png", (260, 120), "RGB", [_rect(20, 60, 60, 90)], "png"),
    (
        "val_big.jpg",
        (600, 1000),
        "RGB",
        [{"name": "circle", "cx": 500, "cy": 300, "r": 150}],
        "jpeg",
    ),
    ("val_negative.png", (90, 90), "RGB", [], "png"),
]


def _write(path: Path, rgb: np.ndarray, mode: str, how: str) -> None:
    im = Image.fromarray(rgb)
    if mode == "I;16":
        gray = np.asarray(im.convert("L"), np.uint16) * 257  # full 16-bit range
        im = Image.fromarray(gray)
    elif mode == "P":  # an adaptive palette, as image editors save one (no dithering)
        im = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    elif mode != "RGB":
        im = im.convert(mode)
    if how == "exif6":  # stored sideways; a viewer rotates it 90 degrees clockwise
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6
        im.transpose(Image.Transpose.ROTATE_90).save(path, "JPEG", quality=95, exif=exif)
    elif how == "jpeg":
        im.save(path, "JPEG", quality=95)
    else:
        im.save(path, "PNG")


def _region(shape: dict, name: str, cls: str) -> dict:
    return {
        "shape_attributes": shape,
        "region_attributes": {"kind": "kite" if "unknown" in name else cls},
    }


def write_split(folder: Path, items: list, v1: bool, seed: int) -> dict:
    """Images and the VIA json of one split; returns {file name: displayed RGB array}."""
    folder.mkdir(parents=True)
    entries, pixels = {}, {}
    for i, (name, (h, w), mode, shapes, how) in enumerate(items):
        rgb = _background(h, w, seed + i)
        for shape in shapes:
            _fill(rgb, shape)
        _write(folder / name, rgb, mode, how)
        regions = [_region(s, name, "balloon") for s in shapes]
        if v1:
            regions = {str(k): r for k, r in enumerate(regions)}
        entries[f"{name}-1"] = {
            "filename": name,
            "size": -1,
            "regions": regions,
            "file_attributes": {},
        }
        pixels[name] = rgb
    (folder / "via_region_data.json").write_text(json.dumps(entries, ensure_ascii=False))
    return pixels


def write_messy_via(root: Path) -> dict:
    """The dataset under ``root``; returns {split: {file name: displayed RGB}}. The class key is
    ``kind`` and the only configured class ``balloon``."""
    return {
        "train": write_split(Path(root) / "train", TRAIN, v1=False, seed=0),
        "val": write_split(Path(root) / "val", VAL, v1=True, seed=100),
    }


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file to ``keep`` of its bytes, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
