"""Pure numpy/OpenCV drawing: instances, color splash, tiles and grids (RGB uint8 in and out).

Instances are drawn in the spirit of Detectron2's ``Visualizer``: a semi-transparent mask with
a darker outline, a thin box, and a "class score" label on an opaque dark box. Colors are
stable per class (per track ID in a tracked video); text scales with the image; labels stay
inside the image and are moved where they would cover another label.
"""

from __future__ import annotations

import colorsys
import io
from dataclasses import dataclass

import cv2
import numpy as np

from balloon_shapes.structures import Instances

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_PX = 22.0  # cap height of FONT at scale 1, in pixels


def instance_colors(n: int) -> np.ndarray:
    """``n`` distinct, saturated RGB colors (golden-ratio hue steps), uint8 [n, 3]."""
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    return np.array(
        [[round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 1.0)] for h in hues], np.uint8
    ).reshape(n, 3)


def class_colors(labels: np.ndarray) -> np.ndarray:
    """The color of each label (1-based class id): the same class, the same color, everywhere."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    return instance_colors(int(labels.max(initial=0)) + 1)[labels]


def colors_of(inst: Instances) -> np.ndarray:
    """Tracked instances take their track's color (stable per ID; neighbouring IDs differ by a
    golden-ratio hue step), others their class's, as do instances not yet given an ID."""
    colors = class_colors(inst.labels)
    if inst.ids is not None and len(inst):
        tracked = inst.ids >= 0
        colors[tracked] = instance_colors(int(inst.ids.max()) + 1)[inst.ids[tracked]]
    return colors


def text_scale(height: int, width: int) -> float:
    """Font scale for an image: text about sqrt(h*w)/60 px tall, never under 10 px."""
    return max(10.0, (height * width) ** 0.5 / 60) / FONT_PX


@dataclass
class Drawing:
    """A drawn picture and where its labels went (XYXY int [N, 4], one row per instance)."""

    image: np.ndarray
    label_boxes: np.ndarray


def draw_instances(
    image: np.ndarray,
    inst: Instances,
    class_names: list[str],
    *,
    scores: bool = True,
    alpha: float = 0.5,
) -> Drawing:
    """Masks, outlines, boxes and labels of ``inst`` on a copy of ``image`` (RGB uint8).

    Higher-scored instances are labelled first, so they get the spot nearest their box."""
    out = image.copy()
    h, w = out.shape[:2]
    colors = colors_of(inst)
    thick = max(1, round((h * w) ** 0.5 / 500))
    for m, color in zip(inst.masks, colors):
        out[m] = (out[m] * (1 - alpha) + color * alpha).astype(np.uint8)
    for m, box, color in zip(inst.masks, inst.boxes, colors):
        edge = tuple(int(v) for v in (color * 0.45))  # darker outline: visible on its own fill
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, edge, thick)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), tuple(int(v) for v in color), thick)
    ids = inst.ids if inst.ids is not None else np.full(len(inst), -1)
    texts = [
        (f"#{t} " if t >= 0 else "") + class_names[int(c) - 1] + (f" {s:.2f}" if scores else "")
        for c, s, t in zip(inst.labels, inst.scores, ids)
    ]
    label_boxes = np.zeros((len(texts), 4), np.int64)
    scale = text_scale(h, w)
    placed: list[np.ndarray] = []
    for i in np.argsort(-np.asarray(inst.scores), kind="stable"):
        size = label_size(texts[i], scale)
        label_boxes[i] = place_label(size, inst.boxes[i], (h, w), placed)
        placed.append(label_boxes[i])
        draw_label(out, texts[i], label_boxes[i], colors[i], scale)
    return Drawing(out, label_boxes)


def label_size(text: str, scale: float) -> tuple[int, int]:
    """(width, height) of ``text``'s label box, padding included."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    pad = max(2, round(th / 4))
    return tw + 2 * pad, th + base + 2 * pad


def place_label(
    size: tuple[int, int], box: np.ndarray, shape: tuple[int, int], placed: list[np.ndarray]
) -> np.ndarray:
    """Where a label of ``size`` goes: above the box's top-left corner if it is free, else the
    nearest spot inside the image that covers no ``placed`` label (XYXY, exclusive end).

    Candidates are the four box corners, then a grid over the image by distance; when the image
    is full, the corner that overlaps least."""
    (lw, lh), (h, w) = size, shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    near = np.array([[x0, y0 - lh], [x0, y0], [x0, y1], [x0, y1 - lh]])
    gy, gx = np.mgrid[
        0 : max(1, h - lh + 1) : max(1, lh // 2), 0 : max(1, w - lw + 1) : max(1, lw // 4)
    ]
    grid_xy = np.stack([gx.ravel(), gy.ravel()], 1)
    order = np.argsort(np.abs(grid_xy - near[0]).sum(1), kind="stable")
    xy = np.concatenate([near, grid_xy[order]])
    xy[:, 0] = np.clip(xy[:, 0], 0, max(0, w - lw))
    xy[:, 1] = np.clip(xy[:, 1], 0, max(0, h - lh))
    cand = np.concatenate([xy, xy + [lw, lh]], 1)
    if not placed:
        return cand[0]
    overlap = total_overlap(cand, np.stack(placed))
    free = np.flatnonzero(overlap == 0)
    return cand[free[0]] if len(free) else cand[int(np.argmin(overlap[:4]))]


def total_overlap(cand: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """Area each candidate box [C,4] shares with all ``placed`` boxes [P,4] (XYXY)."""
    iw = np.minimum(cand[:, None, 2], placed[None, :, 2]) - np.maximum(
        cand[:, None, 0], placed[None, :, 0]
    )
    ih = np.minimum(cand[:, None, 3], placed[None, :, 3]) - np.maximum(
        cand[:, None, 1], placed[None, :, 1]
    )
    return (np.clip(iw, 0, None) * np.clip(ih, 0, None)).sum(1)


def draw_label(
    out: np.ndarray, text: str, box: np.ndarray, color: np.ndarray, scale: float
) -> None:
    """White text on the class color darkened enough for white to read on any background."""
    x0, y0, x1, y1 = (int(v) for v in box)
    fill = color.astype(np.float64) * min(1.0, 110 / max(1.0, float(color.max())))
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), tuple(int(v) for v in fill), cv2.FILLED)
    (_, th), _ = cv2.getTextSize(text, FONT, scale, 1)
    pad = max(2, round(th / 4))
    cv2.putText(out, text, (x0 + pad, y0 + pad + th), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def overlay(image: np.ndarray, inst: Instances, class_names: list[str]) -> np.ndarray:
    """The demos' picture: ``image`` with ``inst`` drawn (see ``draw_instances``)."""
    return draw_instances(image, inst, class_names).image


def color_splash(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Gray everywhere but inside the union of ``masks`` (bool [N,H,W]), which keeps its color."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None].repeat(3, axis=2)
    if len(masks) == 0:
        return gray
    keep = np.any(masks, axis=0)
    return np.where(keep[:, :, None], image, gray)


def grid(images: list[np.ndarray], cols: int = 4, pad: int = 2) -> np.ndarray:
    """Tile RGB images of any sizes row-major, at most ``cols`` wide, each centred in a cell as
    large as the largest, on white with a ``pad`` between cells: every picture of tiles."""
    cols = min(cols, len(images))
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    rows = -(-len(images) // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        y = pad + r * (h + pad) + (h - im.shape[0]) // 2
        x = pad + c * (w + pad) + (w - im.shape[1]) // 2
        out[y : y + im.shape[0], x : x + im.shape[1]] = im
    return out


def resize_instances(image: np.ndarray, inst: Instances, size: int) -> tuple[np.ndarray, Instances]:
    """Scale an image and its instances (masks and boxes) so the longer side is ``size``."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    dsize = (max(1, round(w * s)), max(1, round(h * s)))
    image = cv2.resize(image, dsize, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST)
    boxes = np.asarray(inst.boxes, np.float64).reshape(-1, 4) * s
    return image, Instances(boxes, inst.labels, inst.scores, resize_masks(inst.masks, dsize))


def resize_masks(masks: np.ndarray, dsize: tuple[int, int]) -> np.ndarray:
    """bool masks [N,H,W] to ``dsize`` (width, height), nearest neighbour."""
    return np.array(
        [cv2.resize(m.astype(np.uint8), dsize, interpolation=cv2.INTER_NEAREST) for m in masks],
        bool,
    ).reshape(len(masks), dsize[1], dsize[0])


def caption(tile: np.ndarray, text: str) -> np.ndarray:
    """``tile`` with a white strip above it carrying ``text`` (what the tile shows)."""
    h = 18
    strip = np.full((h, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (3, h - 5), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, tile])


def comparison_tile(
    image: np.ndarray,
    gt: Instances,
    pred: Instances,
    class_names: list[str],
    size: int,
    note: str = "",
) -> np.ndarray:
    """Ground truth (left) beside the prediction (right), each ``size`` on its longer side."""
    rgb, g = resize_instances(image, gt, size)
    _, p = resize_instances(image, pred, size)
    left = draw_instances(rgb, g, class_names, scores=False).image
    right = draw_instances(rgb, p, class_names).image
    gap = np.full((rgb.shape[0], 3, 3), 255, np.uint8)
    pair = np.concatenate([left, gap, right], 1)
    return caption(pair, f"ground truth | prediction{'  ' + note if note else ''}")


def png_bytes(image_rgb: np.ndarray) -> bytes:
    """An RGB uint8 image as PNG bytes."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[:, :, ::-1]))
    if not ok:
        raise ValueError(f"could not encode a {image_rgb.shape} image as PNG")
    return buf.tobytes()


def figure_png(fig) -> bytes:
    """A matplotlib ``Figure`` as 100-dpi PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, format="png")
    return buf.getvalue()
