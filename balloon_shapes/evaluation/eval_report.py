"""What ``eval.py`` writes beyond the numbers: the error analysis (console, json, errors.png)
and ``report.html`` (every table, figure and image of the evaluation on one page)."""

from __future__ import annotations

import os

import numpy as np

from balloon_shapes.data.mapper import load_pixels
from balloon_shapes.evaluation import error_analysis as ea
from balloon_shapes.evaluation.coco_evaluation import STAT_NAMES
from balloon_shapes.evaluation.matching import GroundTruth
from balloon_shapes.evaluation.report import pred_vs_gt_tile, table
from balloon_shapes.files import write_figure
from balloon_shapes.html_report import Figure, Page, Table, figure_if_exists, jpeg_uri

EXAMPLES_PER_ERROR = 4


def analyse(
    preds: list[dict], gts: list[GroundTruth], names: list[str], score_thresh: float
) -> dict:
    """TIDE breakdown (all scores), confusion matrix and per-class P/R (>= ``score_thresh``)."""
    o = ea.outcomes(preds, gts)  # every prediction's outcome, mask IoUs computed once
    return {
        "breakdown": ea.breakdown(o),
        "confusion": ea.confusion(preds, gts, len(names), score_thresh).tolist(),
        "per_class": ea.per_class(o, names, score_thresh),
        "score_thresh": score_thresh,
        "images_with": ea.images_with(o, score_thresh),
    }


def breakdown_rows(analysis: dict) -> list[list]:
    b = analysis["breakdown"]
    return [[ea.ERROR_NAMES[k], b["counts"][k], b["dAP50"][k]] for k in ea.ERROR_TYPES]


def confusion_rows(analysis: dict, names: list[str]) -> list[list]:
    labels = [*names, "background"]
    return [[labels[i], *row] for i, row in enumerate(analysis["confusion"])]


def errors_png(path: str, analysis: dict, names: list[str]) -> None:
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
    write_figure(path, fig)


def print_analysis(analysis: dict, names: list[str]) -> None:
    print("\nerrors (TIDE-style, mask IoU; dAP50 = AP50 gained by fixing them):")
    print(table(breakdown_rows(analysis), ["error", "count", "dAP50"]))
    print(
        f"\nconfusion matrix (rows true, columns predicted, score >= {analysis['score_thresh']}):"
    )
    print(table(confusion_rows(analysis, names), ["", *names, "background"]))
    keys = ["class", "objects", "predictions", "precision", "recall"]
    print(f"\nprecision / recall per class (score >= {analysis['score_thresh']}, mask IoU 0.5):")
    print(table([[r[k] for k in keys] for r in analysis["per_class"]], keys))


def tile(record: dict, pred: dict, gt: GroundTruth, names, score_thresh, size: int, note=""):
    """Ground truth beside prediction for one image, as a report tile."""
    return pred_vs_gt_tile(load_pixels(record), pred, gt, names, score_thresh, size, note)


def defined(v: float) -> float:
    """COCO's -1 (no objects of that size) shown as n/a, not as a score."""
    return float("nan") if v < 0 else v


def metric_table(metrics: dict, mode: str) -> Table:
    m = metrics[mode]
    rows = [[t, *[defined(m[t][n]) for n in STAT_NAMES]] for t in ("bbox", "segm")]
    keys = [[None, *[f"{mode}.{t}.{n}" for n in STAT_NAMES]] for t in ("bbox", "segm")]
    rows.append(["VOC-style mAP@0.5 (per image, masks)", m["voc_mAP50"], *[""] * 5])
    keys.append([None, f"{mode}.voc_mAP50", *[None] * 5])
    title = {"rgb": "COCO metrics", "gray": "COCO metrics, grayscale images"}[mode]
    return Table(
        title,
        ["", *STAT_NAMES],
        rows,
        keys,
        "AP averaged over IoU 0.50:0.95; AP50 at IoU 0.5; s/m/l: small, medium, large objects "
        "(n/a: none of that size)",
    )


def per_class_table(metrics: dict, analysis: dict) -> Table:
    m = metrics.get("rgb") or metrics["gray"]
    rows = [
        [
            r["class"],
            m["bbox"]["per_class_AP"].get(r["class"], float("nan")),
            m["segm"]["per_class_AP"].get(r["class"], float("nan")),
            r["objects"],
            r["predictions"],
            r["precision"],
            r["recall"],
        ]
        for r in analysis["per_class"]
    ]
    header = ["class", "bbox AP", "segm AP", "objects", "predictions", "precision", "recall"]
    note = f"precision and recall: predictions scored >= {analysis['score_thresh']}, mask IoU 0.5"
    return Table("Per class", header, rows, note=note)


def tables(metrics: dict, analysis: dict, names: list[str]) -> list[Table]:
    out = [metric_table(metrics, mode) for mode in ("rgb", "gray") if mode in metrics]
    out.append(per_class_table(metrics, analysis))
    note = "TIDE definitions on masks: see balloon_shapes/evaluation/error_analysis.py"
    out.append(
        Table("Error breakdown", ["error", "count", "dAP50"], breakdown_rows(analysis), note=note)
    )
    out.append(
        Table(
            "Confusion matrix",
            ["true \\ predicted", *names, "background"],
            confusion_rows(analysis, names),
        )
    )
    if "robustness" in metrics:
        rows = metrics["robustness"]["recall_by_contrast"]
        out.append(
            Table(
                "Recall by luminance contrast, RGB vs gray",
                list(rows[0]),
                [list(r.values()) for r in rows],
            )
        )
    return out


FIGURES = (
    ("Errors and confusion", "errors.png"),
    ("Precision-recall", "pr_curves.png"),
    ("Precision-recall, grayscale", "pr_curves_gray.png"),
    ("Robustness to grayscale", "robustness.png"),
    ("Worst images (most missed)", "worst_images.png"),
)


def galleries(cfg, analysis: dict, records, preds, gts, names) -> list[tuple[str, list[Figure]]]:
    """Up to 4 images per error type, then the first ``eval.report_images`` images."""

    def draw(i: int, note: str = "") -> str:
        size = cfg.tile_size
        return jpeg_uri(tile(records[i], preds[i], gts[i], names, cfg.score_thresh, size, note))

    out = []
    for kind in ea.ERROR_TYPES:
        shown = analysis["images_with"][kind][:EXAMPLES_PER_ERROR]
        if shown:
            items = [Figure(f"image {i}", draw(i, ea.ERROR_NAMES[kind])) for i in shown]
            out.append((f"Images with {ea.ERROR_NAMES[kind]} errors", items))
    limit = cfg.eval.report_images
    n = len(records) if limit is None else min(limit, len(records))
    every = [Figure(str(records[i].get("file_name", i)), draw(i)) for i in range(n)]
    out.append((f"Every image: ground truth | prediction ({n} of {len(records)})", every))
    return out


def page(cfg, metrics: dict, analysis: dict, records, preds, gts, names) -> Page:
    """The evaluation's report: metrics, per class, errors, figures, error examples, images."""
    facts = [
        ("dataset", str(cfg.data.val)),
        ("weights", str(cfg.model.weights)),
        ("images", str(len(records))),
        ("color", str(cfg.eval.grayscale)),
        ("precision", str(metrics.get("precision", "fp32"))),
    ]
    figures = [
        f
        for title, name in FIGURES
        for f in figure_if_exists(title, os.path.join(cfg.output_dir, name))
    ]
    return Page(
        f"Evaluation: {cfg.data.val} ({len(records)} images)",
        facts,
        tables(metrics, analysis, names),
        figures,
        galleries(cfg, analysis, records, preds, gts, names),
    )
