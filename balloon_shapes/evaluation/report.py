"""Readable outputs: console tables, precision-recall curves, a grid of the worst images."""

from __future__ import annotations

import math

import numpy as np

from balloon_shapes.evaluation.coco_evaluation import STAT_NAMES
from balloon_shapes.evaluation.matching import GroundTruth
from balloon_shapes.files import write_figure, write_image
from balloon_shapes.structures import Instances, decode_rles, rle_instances
from balloon_shapes.visualizer import comparison_tile, grid


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


def per_class_text(metrics: dict) -> str:
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


def pred_vs_gt_tile(
    image: np.ndarray,
    pred: dict,
    gt: GroundTruth,
    names: list[str],
    score_thresh: float,
    size: int,
    note: str = "",
) -> np.ndarray:
    """Ground truth beside a compact prediction scored >= ``score_thresh``: the tile of
    predictions.png, worst_images.png and report.html."""
    h, w = image.shape[:2]
    inst = Instances(
        pred["boxes"], pred["labels"], pred["scores"], decode_rles(pred["masks"], h, w)
    )
    truth = rle_instances(gt.rles, gt.labels, h, w)
    return comparison_tile(image, truth, inst.above(score_thresh), names, size, note)


def worst_images_png(
    path: str, worst: list[dict], class_names: list[str], score_thresh: float, size: int
) -> None:
    """Draw the given worst images: ground truth beside prediction, captioned the missed count.

    Args:
        worst: per image ``image`` (RGB), ``missed``, ``gt`` (RLEs, labels), ``pred``
            (boxes, scores, labels, masks as RLEs).
    """
    tiles = [
        pred_vs_gt_tile(
            it["image"],
            it["pred"],
            it["gt"],
            class_names,
            score_thresh,
            size,
            f"missed {it['missed']}",
        )
        for it in worst
    ]
    write_image(path, grid(tiles))
