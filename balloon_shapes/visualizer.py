"""Pure numpy/OpenCV drawing: overlays, color splash, tiles and grids (RGB uint8 in and out)."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from balloon_shapes.structures import Instances, label_names


def instance_colors(n: int) -> np.ndarray:
    """``n`` distinct, saturated RGB colors (golden-ratio hue steps), uint8 [n, 3]."""
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    return np.array(
        [[round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 1.0)] for h in hues], np.uint8
    )


def overlay(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: list[str],
    scores: np.ndarray | None,
    masks: np.ndarray,
    alpha: float = 0.5,
) -> np.ndarray:
    """Draw masks (bool [N,H,W]), XYXY boxes and "label score" captions on a copy of ``image``."""
    out = image.copy()
    colors = instance_colors(len(boxes))
    for m, color in zip(masks, colors):
        out[m] = (out[m] * (1 - alpha) + color * alpha).astype(np.uint8)
    scale = max(0.3, min(out.shape[:2]) / 400)
    for i, (box, color) in enumerate(zip(boxes, colors)):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        c = tuple(int(v) for v in color)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), c, 1)
        text = labels[i] if scores is None else f"{labels[i]} {scores[i]:.2f}"
        cv2.putText(
            out, text, (x0, max(8, y0 - 2)), cv2.FONT_HERSHEY_SIMPLEX, scale, c, 1, cv2.LINE_AA
        )
    return out


def color_splash(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Gray everywhere but inside the union of ``masks`` (bool [N,H,W]), which keeps its color."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None].repeat(3, axis=2)
    if len(masks) == 0:
        return gray
    keep = np.any(masks, axis=0)
    return np.where(keep[:, :, None], image, gray)


def grid(images: list[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    """Tile RGB images of any sizes row-major, each centred in a cell as large as the largest,
    on white with a ``pad`` between cells."""
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


def resize_instances(image: np.ndarray, masks: np.ndarray, boxes: np.ndarray, size: int):
    """Scale an image, its masks (bool [N,H,W]) and XYXY boxes so the longer side is ``size``."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    dsize = (max(1, round(w * s)), max(1, round(h * s)))
    image = cv2.resize(image, dsize, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST)
    return image, resize_masks(masks, dsize), np.asarray(boxes, np.float64).reshape(-1, 4) * s


def resize_masks(masks: np.ndarray, dsize: tuple[int, int]) -> np.ndarray:
    """bool masks [N,H,W] to ``dsize`` (width, height), nearest neighbour."""
    return np.array(
        [cv2.resize(m.astype(np.uint8), dsize, interpolation=cv2.INTER_NEAREST) for m in masks],
        bool,
    ).reshape(len(masks), dsize[1], dsize[0])


def instances_tile(
    image: np.ndarray,
    inst: Instances,
    class_names: list[str],
    size: int,
    outlines: np.ndarray | None = None,
    note: str = "",
) -> np.ndarray:
    """``image`` scaled so its longer side is ``size`` (mixed sizes tile, text stays readable),
    its instances drawn, ``outlines`` (bool [M,H,W], e.g. ground truth) in white, ``note``."""
    rgb, masks, boxes = resize_instances(image, inst.masks, inst.boxes, size)
    tile = overlay(rgb, boxes, label_names(inst.labels, class_names), inst.scores, masks)
    if outlines is not None:
        for m in resize_masks(outlines, (tile.shape[1], tile.shape[0])):
            contours, _ = cv2.findContours(
                m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
            )
            cv2.drawContours(tile, contours, -1, (255, 255, 255), 1)
    if note:
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(tile, note, (3, 14), font, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def mosaic(tiles: list[np.ndarray], cols: int = 4) -> np.ndarray:
    """Tiles in a grid at most ``cols`` wide: training's and evaluation's pictures."""
    return grid(tiles, cols=min(cols, len(tiles)))
