"""Synthetic shapes (square, circle, triangle, ellipse) drawn with OpenCV on the fly.

Every image and its annotations are a pure function of ``(seed, index)``: the val set is the
same on every machine with no files, and training draws an endless stream of new indices.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from balloon_shapes.config import yaml_node
from balloon_shapes.errors import DataError
from balloon_shapes.structures import BoxMode, encode_rle

DEFAULTS = yaml_node("data/shapes.yaml").shapes  # the defaults of every ShapesSpec field

CLASSES = ("square", "circle", "triangle", "ellipse")


@dataclass(frozen=True)
class ShapesSpec:
    """How images are drawn; every field is a config knob (``data.shapes``)."""

    height: int = DEFAULTS.height
    width: int = DEFAULTS.width
    min_shapes: int = DEFAULTS.min_shapes
    max_shapes: int = DEFAULTS.max_shapes
    min_size: float = DEFAULTS.min_size  # shape radius as a fraction of the shorter side
    max_size: float = DEFAULTS.max_size
    min_pixels: int = DEFAULTS.min_pixels  # occluded shapes left with fewer are dropped
    min_color_dist: float = DEFAULTS.min_color_dist  # RGB L2 from the background
    edge_cut: float = DEFAULTS.edge_cut  # chance a shape's centre is put on the frame's edge


def _on_edge(rng: np.random.Generator, r: float, h: int, w: int) -> tuple[float, float]:
    """A centre that lets the frame's edge cut the shape: on a random side, from 0.7 r outside
    to 0.3 r inside it (as objects leaving a video's frame look), anywhere along that side."""
    side, depth = int(rng.integers(4)), rng.uniform(-0.7 * r, 0.3 * r)
    along = rng.uniform(0, w if side < 2 else h)
    if side < 2:  # top, bottom
        return along, (depth if side == 0 else h - depth)
    return (depth if side == 2 else w - depth), along


def _random_color(
    rng: np.random.Generator, avoid: np.ndarray | None, min_dist: float
) -> np.ndarray:
    """A uint8 RGB color at least ``min_dist`` away from ``avoid`` (so every shape is visible)."""
    for _ in range(100):
        color = rng.integers(0, 256, size=3)
        if avoid is None or np.linalg.norm(color - avoid) >= min_dist:
            break
    return color.astype(np.uint8)


def _polygon(cx: float, cy: float, r: float, angle: float, n: int) -> np.ndarray:
    """Vertices of a regular n-gon with circumradius r, rotated by ``angle`` radians."""
    t = angle + np.arange(n) * 2 * np.pi / n
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def draw_shape(
    mask: np.ndarray, cls: int, cx: float, cy: float, r: float, angle: float, aspect: float
) -> None:
    """Fill one shape into a uint8 mask in place (no antialiasing: pixels == mask)."""
    if CLASSES[cls] == "circle":
        cv2.circle(mask, (round(cx), round(cy)), max(1, round(r)), 1, thickness=-1)
    elif CLASSES[cls] == "ellipse":
        axes = (max(1, round(r)), max(1, round(r * aspect)))
        cv2.ellipse(mask, (round(cx), round(cy)), axes, np.degrees(angle), 0, 360, 1, thickness=-1)
    else:
        n = 4 if CLASSES[cls] == "square" else 3
        pts = np.round(_polygon(cx, cy, r, angle, n)).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)


def tight_box(mask: np.ndarray) -> list[float]:
    """XYXY box of a binary mask, in pixel-edge coordinates (x1 = last column + 1)."""
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


@dataclass(frozen=True)
class Shape:
    """One shape to draw: class index, centre, radius (px), rotation (rad), ellipse aspect, RGB."""

    cls: int
    cx: float
    cy: float
    r: float
    angle: float
    aspect: float
    color: tuple[int, int, int]


def sample_scene(rng: np.random.Generator, spec: ShapesSpec) -> tuple[np.ndarray, list[Shape]]:
    """Random background color and 1..max_shapes random shapes, each visible on the background."""
    h, w, side = spec.height, spec.width, min(spec.height, spec.width)
    bg = rng.integers(0, 256, size=3)
    scene = []
    for _ in range(int(rng.integers(spec.min_shapes, spec.max_shapes + 1))):
        cls = int(rng.integers(len(CLASSES)))
        r = rng.uniform(spec.min_size, spec.max_size) * side
        cx, cy = rng.uniform(r / 2, w - r / 2), rng.uniform(r / 2, h - r / 2)  # mostly inside
        angle, aspect = rng.uniform(0, 2 * np.pi), rng.uniform(0.4, 0.7)
        color = tuple(int(c) for c in _random_color(rng, bg, spec.min_color_dist))
        if spec.edge_cut and rng.random() < spec.edge_cut:  # no draws at 0: val images unchanged
            cx, cy = _on_edge(rng, r, h, w)
        scene.append(Shape(cls, cx, cy, r, angle, aspect, color))
    return bg.astype(np.uint8), scene


def compose(bg: np.ndarray, scene: list[Shape], spec: ShapesSpec) -> tuple[np.ndarray, list[dict]]:
    """Paint ``scene`` in order on ``bg``; later shapes occlude (cut the masks of) earlier ones.

    Returns:
        image: uint8 RGB [H, W, 3];
        instances: ``{"category_id", "mask" (uint8 [H, W]), "index" (in ``scene``)}`` in
        drawing order, dropping shapes left with fewer than ``spec.min_pixels`` pixels.
    ``spec``: its height, width and min_pixels (a clip's ``ClipSpec`` has them too).
    """
    image = np.empty((spec.height, spec.width, 3), np.uint8)
    image[:] = bg
    masks, labels = [], []
    for s in scene:
        mask = np.zeros((spec.height, spec.width), np.uint8)
        draw_shape(mask, s.cls, s.cx, s.cy, s.r, s.angle, s.aspect)
        image[mask.astype(bool)] = s.color
        for earlier in masks:
            earlier &= 1 - mask
        masks.append(mask)
        labels.append(s.cls)
    return image, [
        {"category_id": c, "mask": m, "index": k}
        for k, (c, m) in enumerate(zip(labels, masks))
        if int(m.sum()) >= spec.min_pixels
    ]


def render(seed: int, index: int, spec: ShapesSpec = ShapesSpec()) -> tuple[np.ndarray, list[dict]]:
    """Draw image ``index`` of stream ``seed``: a pure function of ``(seed, index, spec)``."""
    bg, scene = sample_scene(np.random.default_rng([seed, index]), spec)
    return compose(bg, scene, spec)


PREFIX = "shapes://"


def file_name(seed: int, index: int, spec: ShapesSpec = ShapesSpec()) -> str:
    """``shapes://<seed>/<index>.png``, plus the spec fields that differ from the defaults as a
    query: the name alone says how to draw the image, so readers that only see ``file_name``
    (Detectron2's) can open it."""
    default = ShapesSpec()
    changed = {k: v for k, v in dataclasses.asdict(spec).items() if v != getattr(default, k)}
    query = f"?{urllib.parse.urlencode(changed)}" if changed else ""
    return f"{PREFIX}{seed}/{index}.png{query}"


def parse_file_name(name: str) -> tuple[int, int, ShapesSpec]:
    """(seed, index, spec) of a ``file_name``; anything else is a ``DataError``."""
    parts = urllib.parse.urlsplit(name)
    stem = parts.path.strip("/").removesuffix(".png")
    if not name.startswith(PREFIX) or not parts.netloc.isdigit() or not stem.isdigit():
        raise DataError(f"{name}: not a shapes image name (shapes://<seed>/<index>.png)")
    default = ShapesSpec()
    try:
        fields = {k: type(getattr(default, k))(v) for k, v in urllib.parse.parse_qsl(parts.query)}
        return int(parts.netloc), int(stem), ShapesSpec(**fields)
    except (AttributeError, TypeError, ValueError) as e:
        raise DataError(f"{name}: bad shapes spec in the name ({e})") from None


def png_bytes(name: str) -> bytes:
    """The PNG file a shapes ``file_name`` stands for, drawn now."""
    image, _ = render(*parse_file_name(name))
    return cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))[1].tobytes()


def to_record(seed: int, index: int, spec: ShapesSpec = ShapesSpec()) -> dict:
    """Image ``index`` as a Detectron2-format dict; the pixels ride along under ``"image"``."""
    image, instances = render(seed, index, spec)
    annotations = []
    for inst in instances:
        annotations.append(
            {
                "bbox": tight_box(inst["mask"]),
                "bbox_mode": BoxMode.XYXY_ABS,
                "segmentation": encode_rle(inst["mask"]),
                "category_id": inst["category_id"],
                "iscrowd": 0,
            }
        )
    return {
        "file_name": file_name(seed, index, spec),
        "height": spec.height,
        "width": spec.width,
        "image_id": index,
        "image": image,
        "annotations": annotations,
    }


class ShapesDicts(Sequence):
    """A lazy list of shapes records: item ``i`` is ``to_record(seed, i)``, drawn on access."""

    def __init__(self, seed: int, size: int, spec: ShapesSpec = ShapesSpec()) -> None:
        self.seed, self.size, self.spec = seed, size, spec

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.size))]
        if not -self.size <= i < self.size:
            raise IndexError(f"shapes index {i} out of range for {self.size} images")
        return to_record(self.seed, i % self.size, self.spec)
