"""What eval.py prints: aligned text tables of the metrics, the per-class AP and the error
analysis."""

from __future__ import annotations

import math

from balloon_shapes.evaluation import error_analysis as ea
from balloon_shapes.evaluation.coco_evaluation import STAT_NAMES


def table(rows: list[list], header: list[str]) -> str:
    """A plain aligned text table."""
    cells = [header] + [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def metrics_text(metrics: dict) -> str:
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


def breakdown_rows(analysis: dict) -> list[list]:
    b = analysis["breakdown"]
    return [[ea.ERROR_NAMES[k], b["counts"][k], b["dAP50"][k]] for k in ea.ERROR_TYPES]


def confusion_rows(analysis: dict, names: list[str]) -> list[list]:
    labels = [*names, "background"]
    return [[labels[i], *row] for i, row in enumerate(analysis["confusion"])]


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
