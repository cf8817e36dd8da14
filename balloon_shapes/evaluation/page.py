"""The evaluation's ``report.html`` (``html_report`` renders it): every table, figure and image
of an evaluation on one page."""

from __future__ import annotations

from balloon_shapes.evaluation import error_analysis as ea
from balloon_shapes.evaluation.coco_evaluation import STAT_NAMES
from balloon_shapes.evaluation.console import breakdown_rows, confusion_rows
from balloon_shapes.evaluation.figures import tile
from balloon_shapes.html_report import Figure, Page, Table, jpeg_uri, png_uri

EXAMPLES_PER_ERROR = 4


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


def page(cfg, metrics: dict, analysis: dict, records, preds, gts, names, pngs: dict) -> Page:
    """The evaluation's report: metrics, per class, errors, figures (``pngs``: file name ->
    PNG bytes, those this run drew), error examples, images."""
    facts = [
        ("dataset", str(cfg.data.val)),
        ("weights", str(cfg.model.weights)),
        ("images", str(len(records))),
        ("color", str(cfg.eval.grayscale)),
        ("precision", str(metrics.get("precision", "fp32"))),
    ]
    figures = [Figure(title, png_uri(pngs[name])) for title, name in FIGURES if name in pngs]
    return Page(
        f"Evaluation: {cfg.data.val} ({len(records)} images)",
        facts,
        tables(metrics, analysis, names),
        figures,
        galleries(cfg, analysis, records, preds, gts, names),
    )
