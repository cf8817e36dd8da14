"""The evaluation's pictures: precision-recall curves, the error breakdown beside the confusion
matrix, and ground truth | prediction tiles (predictions.png, worst_images.png, report.html)."""

from __future__ import annotations

import numpy as np

from balloon_shapes.data.mapper import load_pixels
from balloon_shapes.evaluation import error_analysis as ea
from balloon_shapes.structures import compact_instances
from balloon_shapes.visualizer import comparison_tile, figure_png, grid, png_bytes


def pr_curves_png(evals: dict) -> bytes:
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
    return figure_png(fig)


def errors_png(analysis: dict, names: list[str]) -> bytes:
    """dAP50 per error type (bars) beside the confusion matrix (heat map with counts)."""
    from matplotlib.figure import Figure as MplFigure

    b = analysis["breakdown"]
    fig = MplFigure(figsize=(11, 4.2))
    ax, cm_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.1]})
    kinds = list(ea.ERROR_TYPES)
    ax.barh(
        [ea.ERROR_NAMES[k] for k in kinds][::-1],
        [b["dAP50"][k] for k in kinds][::-1],
        color="#d62728",
    )
    for y, k in enumerate(kinds[::-1]):
        ax.text(
            b["dAP50"][k], y, f" {b['dAP50'][k]:.3f} ({b['counts'][k]})", va="center", fontsize=8
        )
    ax.set(
        title=f"mask AP50 {b['AP50']:.3f}: AP50 gained by fixing each error (count)", xlabel="dAP50"
    )
    ax.set_xlim(0, max(0.05, max(b["dAP50"].values()) * 1.4))
    m = np.asarray(analysis["confusion"])
    labels = [*names, "bg"]
    cm_ax.imshow(np.log1p(m), cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        cm_ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if v > m.max() / 2 else "black",
        )
    cm_ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    cm_ax.set_yticks(range(len(labels)), labels, fontsize=8)
    cm_ax.set(
        title=f"confusion (score >= {analysis['score_thresh']}, mask IoU >= 0.5)",
        xlabel="predicted",
        ylabel="true",
    )
    fig.tight_layout()
    return figure_png(fig)


def pred_vs_gt_tile(
    image: np.ndarray,
    pred: dict,
    gt: dict,
    names: list[str],
    score_thresh: float,
    size: int,
    note: str = "",
) -> np.ndarray:
    """Ground truth beside a compact prediction scored >= ``score_thresh``: the tile of
    predictions.png, worst_images.png and report.html."""
    h, w = image.shape[:2]
    inst, truth = compact_instances(pred, h, w), compact_instances(gt, h, w)
    return comparison_tile(image, truth, inst.above(score_thresh), names, size, note)


def tile(record: dict, pred: dict, gt: dict, names, score_thresh, size: int, note=""):
    """Ground truth beside prediction for one image, as a report tile."""
    return pred_vs_gt_tile(load_pixels(record), pred, gt, names, score_thresh, size, note)


def worst_images_png(
    worst: list[dict], class_names: list[str], score_thresh: float, size: int
) -> bytes:
    """Draw the given worst images: ground truth beside prediction, captioned the missed count.

    Args:
        worst: per image ``image`` (RGB), ``missed``, ``gt`` and ``pred`` (compact forms).
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
    return png_bytes(grid(tiles))
