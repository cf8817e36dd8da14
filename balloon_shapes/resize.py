"""Detectron2's test-time resize in numpy and PIL: its size rule and its PIL bilinear. Shared by
the Detectron2-flavour model (``modeling.d2_compat``) and the torch-free runtime
(``deploy.runtime``), so an exported model sees the pixels the eager one sees; no torch here."""

from __future__ import annotations

import numpy as np


def d2_resized_size(h: int, w: int, short: int, max_size: int) -> tuple[int, int]:
    """Detectron2's ResizeShortestEdge output size (rounded half up, as it does)."""
    scale = short / min(h, w)
    newh, neww = (short, scale * w) if h < w else (scale * h, short)
    if max(newh, neww) > max_size:
        scale = max_size / max(newh, neww)
        newh, neww = newh * scale, neww * scale
    return int(newh + 0.5), int(neww + 0.5)


def pil_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float RGB 0..1 [3,H,W] -> [3,h,w] resized as Detectron2 does at test time: PIL
    bilinear on the uint8 image."""
    from PIL import Image

    array = np.clip(np.round(image * np.float32(255)), 0, 255).astype(np.uint8)
    resized = Image.fromarray(array.transpose(1, 2, 0)).resize(size[::-1], Image.BILINEAR)
    return np.asarray(resized).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
