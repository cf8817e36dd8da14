"""A training run's ``report.html``: validation history, the last validation's pictures, and the
command that writes the full evaluation report (errors, confusion, every image)."""

from __future__ import annotations

import os

from omegaconf import DictConfig

from balloon_shapes.html_report import Page, Table, figure_if_exists, write_page

COLUMNS = ("iter", "train_seconds", "segm_AP50", "segm_AP", "segm_AP75", "bbox_AP50", "bbox_AP")


def history_table(metrics: dict) -> Table:
    """One row per validation; cells keyed ``history.<row>.<metric>`` for the browser test."""
    rows = [[h.get(c, float("nan")) for c in COLUMNS] for h in metrics["history"]]
    keys = [[f"history.{i}.{c}" for c in COLUMNS] for i in range(len(rows))]
    return Table(
        "Validation history",
        list(COLUMNS),
        rows,
        keys,
        "train_seconds: training time so far, validation excluded",
    )


def eval_command(out: str) -> str:
    """The command that evaluates the run's best checkpoint: it brings its model and data."""
    best = os.path.join(out, "checkpoints", "best.ckpt")
    return f"python scripts/eval.py model.weights={best} output_dir={os.path.join(out, 'eval')}"


def write_run_report(cfg: DictConfig, metrics: dict) -> str:
    """Write ``<output_dir>/report.html``; returns its path."""
    out = cfg.output_dir
    command = eval_command(out)
    page = Page(
        f"Training run: {out}",
        [
            ("train / val", f"{cfg.data.train} / {cfg.data.val}"),
            ("iterations", str(metrics.get("iter"))),
            ("full evaluation report (errors, confusion, every image)", command),
        ],
        [history_table(metrics)],
        figure_if_exists(
            "Last validation: ground truth | prediction", os.path.join(out, "predictions.png")
        ),
    )
    path = os.path.join(out, "report.html")
    write_page(path, page)
    return path
