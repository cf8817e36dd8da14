"""Pure numpy/OpenCV drawing: overlays, color splash, grids (RGB uint8 in and out)."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np


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
    """Tile equally sized RGB images row-major with a white ``pad``."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = im
    return out
