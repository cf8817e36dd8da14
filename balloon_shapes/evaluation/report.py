"""Readable outputs: console tables, precision-recall curves, a grid of the worst images."""

from __future__ import annotations

import math

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from balloon_shapes.evaluation.coco import STAT_NAMES
from balloon_shapes.io import write_figure, write_image
from balloon_shapes.visualizer import grid, overlay


def table(rows: list[list], header: list[str]) -> str:
    """A plain aligned text table."""
    cells = [header] + [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def metrics_table(metrics: dict) -> str:
    """bbox/segm AP rows (and the VOC-style number) for the console."""
    rows = [[t, *[metrics[t][n] for n in STAT_NAMES]] for t in ("bbox", "segm")]
    text = table(rows, ["", *STAT_NAMES])
    if "voc_mAP50" in metrics:
        text += f"\nVOC-style per-image mask mAP@0.5: {metrics['voc_mAP50']:.3f}"
    return text


def per_class_table(metrics: dict) -> str:
    names = list(metrics["segm"]["per_class_AP"])
    rows = [
        [n, metrics["bbox"]["per_class_AP"].get(n, math.nan), metrics["segm"]["per_class_AP"][n]]
        for n in names
    ]
    return table(rows, ["class", "bbox AP", "segm AP"])


def pr_curves_png(path: str, evals: dict) -> None:
    """Precision-recall curves (mean over classes, all areas, 100 dets) per IoU threshold."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    fig = Figure(figsize=(5 * len(evals), 4))
    axes = fig.subplots(1, len(evals), squeeze=False)
    viridis = matplotlib.colormaps["viridis"]
    for ax, (iou_type, ev) in zip(axes[0], evals.items()):
        recall = ev.params.recThrs
        for t, thr in enumerate(ev.params.iouThrs):
            p = ev.eval["precision"][t, :, :, 0, -1]
            p = np.where(p > -1, p, np.nan)
            ax.plot(
                recall,
                np.nanmean(p, axis=1),
                label=f"IoU {thr:.2f}",
                color=viridis(t / len(ev.params.iouThrs)),
            )
        ax.set(
            title=f"{iou_type}: precision-recall",
            xlabel="recall",
            ylabel="precision",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    write_figure(path, fig)


def worst_images_png(path: str, worst: list[dict], class_names: list[str]) -> None:
    """Draw the given worst images: GT outlines in white, predictions filled, missed count.

    Args:
        worst: per image ``image`` (RGB), ``missed``, ``gt_rles``, ``pred`` (boxes, scores,
            labels, masks as RLEs).
    """
    tiles = []
    for it in worst:
        p = it["pred"]
        keep = p["scores"] >= 0.5
        masks = (
            mask_utils.decode(p["masks"]).transpose(2, 0, 1).astype(bool)
            if p["masks"]
            else np.zeros((0, *it["image"].shape[:2]), bool)
        )
        labels = [class_names[int(c) - 1] for c in p["labels"][keep]]
        tile = overlay(it["image"], p["boxes"][keep], labels, p["scores"][keep], masks[keep])
        for rle in it["gt_rles"]:
            contours, _ = cv2.findContours(
                mask_utils.decode(rle), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
            )
            cv2.drawContours(tile, contours, -1, (255, 255, 255), 1)
        cv2.putText(
            tile,
            f"missed {it['missed']}",
            (3, 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        tiles.append(cv2.resize(tile, (256, round(256 * tile.shape[0] / tile.shape[1]))))
    picture = grid(tiles, cols=min(4, len(tiles)))
    write_image(path, picture)
