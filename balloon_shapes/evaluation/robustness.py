"""RGB vs grayscale: where does a model lose objects when color is gone?

The paper's claim: balloons whose gray level is close to their surroundings are missed, and
small ones too. So each ground-truth object gets a luminance contrast (|mean gray inside the
mask - mean gray in a ring around it|, 0..255) and recall is reported per contrast bin for the
RGB and the grayscale run, next to the AP drop per object size.
"""

from __future__ import annotations

import cv2
import numpy as np

from balloon_shapes.data.mapper import load_pixels
from balloon_shapes.evaluation.matching import match_image
from balloon_shapes.structures import decode_rles
from balloon_shapes.visualizer import figure_png

CONTRAST_BINS = (0, 8, 16, 32, 64, 256)
RING_PX = 5


def object_contrast(gray: np.ndarray, mask: np.ndarray, ring: int = RING_PX) -> float:
    """|mean luminance inside ``mask`` - mean in the ``ring``-pixel band around it|."""
    inside = mask.astype(bool)
    grown = cv2.dilate(inside.astype(np.uint8), np.ones((2 * ring + 1,) * 2, np.uint8)).astype(bool)
    band = grown & ~inside
    if not inside.any() or not band.any():
        return float("nan")
    return float(abs(gray[inside].mean() - gray[band].mean()))


def found(pred: dict, gt: dict, min_score: float) -> np.ndarray:
    """Per ground truth: found at mask IoU >= 0.5 by a same-class prediction >= ``min_score``."""
    _, _, matched = match_image(pred, gt, 0.5, min_score)
    return np.isin(np.arange(len(gt["labels"])), matched)


def missed(pred: dict, gt: dict, min_score: float) -> int:
    """Ground-truth instances not matched at mask IoU 0.5 by a prediction >= ``min_score``."""
    return len(gt["labels"]) - int(found(pred, gt, min_score).sum())


def worst_images(preds: list[dict], gts: list[dict], min_score: float, k: int) -> list[dict]:
    """The ``k`` images missing the most objects: ``index``, ``missed``, ``pred`` and ``gt``
    each, most missed first (ties keep image order)."""
    items = [
        {"missed": missed(p, g, min_score), "pred": p, "gt": g, "index": i}
        for i, (p, g) in enumerate(zip(preds, gts))
    ]
    return sorted(items, key=lambda it: -it["missed"])[:k]


def contrast_bin(c: float) -> int:
    return int(np.searchsorted(CONTRAST_BINS, c, side="right") - 1)


def recall_by_contrast(contrasts: np.ndarray, hits: dict[str, np.ndarray]) -> list[dict]:
    """Rows per contrast bin: object count and recall in each run (``hits[mode]`` per object)."""
    bins = np.array([contrast_bin(c) for c in contrasts])
    rows = []
    for b in range(len(CONTRAST_BINS) - 1):
        sel = bins == b
        row = {"contrast": f"{CONTRAST_BINS[b]}-{CONTRAST_BINS[b + 1]}", "objects": int(sel.sum())}
        for mode, h in hits.items():
            row[f"recall_{mode}"] = float(h[sel].mean()) if sel.any() else float("nan")
        rows.append(row)
    return rows


def contrast_recall(
    records, gts: list[dict], runs: dict[str, list[dict]], min_score: float
) -> list[dict]:
    """Recall per contrast bin of each run (e.g. rgb, gray: compact predictions per record)
    over the ground truth ``gts`` (``matching.compact_ground_truth`` of each record), counting
    predictions scored >= ``min_score`` (``score_thresh``: what the pictures show)."""
    contrasts, hits = [], {mode: [] for mode in runs}
    for k, (rec, gt) in enumerate(zip(records, gts)):
        gray = cv2.cvtColor(load_pixels(rec), cv2.COLOR_RGB2GRAY).astype(np.float32)
        masks = decode_rles(gt["masks"], rec["height"], rec["width"])
        contrasts += [object_contrast(gray, m) for m in masks]
        for mode, preds in runs.items():
            hits[mode].append(found(preds[k], gt, min_score))
    flat = {k: np.concatenate(v) if v else np.zeros(0, bool) for k, v in hits.items()}
    return recall_by_contrast(np.asarray(contrasts), flat)


def size_drop(rgb: dict, gray: dict) -> dict:
    """AP lost going gray, per object size and overall (segm and bbox)."""

    def diff(a: float, b: float) -> float | None:
        return None if a < 0 or b < 0 else a - b  # pycocotools: -1 = no objects of that size

    return {
        t: {k: diff(rgb[t][k], gray[t][k]) for k in ("AP", "AP50", "APs", "APm", "APl")}
        for t in ("bbox", "segm")
    }


def robustness_png(rows: list[dict], drop: dict) -> bytes:
    """Recall per contrast bin (RGB vs gray) and segm AP drop per object size."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    fig = Figure(figsize=(10, 4))
    a, b = fig.subplots(1, 2)
    x = np.arange(len(rows))
    for k, (mode, color) in enumerate((("rgb", "tab:red"), ("gray", "tab:gray"))):
        a.bar(
            x + (k - 0.5) * 0.4, [r[f"recall_{mode}"] for r in rows], 0.4, label=mode, color=color
        )
    a.set_xticks(x, [f"{r['contrast']}\n(n={r['objects']})" for r in rows])
    a.set(
        title="recall by object/surround luminance contrast",
        xlabel="contrast (gray levels)",
        ylabel="recall @ mask IoU 0.5, score 0.5",
        ylim=(0, 1.05),
    )
    a.legend()
    sizes = ["APs", "APm", "APl", "AP"]
    b.bar(sizes, [drop["segm"][s] or 0.0 for s in sizes], color="tab:blue")
    b.axhline(0, color="black", lw=0.8)
    b.set(title="segm AP lost in grayscale", ylabel="AP(RGB) - AP(gray)")
    fig.tight_layout()
    return figure_png(fig)
