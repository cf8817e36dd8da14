"""The time-to-quality frontier: segm AP50 against training seconds and iterations, per run.

    python benchmarks/frontier.py "3-8, 12-01=outputs/bench_shapes" "1-4, 11-30=outputs/b14"

Each argument is ``LABEL=RUN_DIR``, where RUN_DIR is a ``benchmarks/shapes_cpu.py`` output folder
(its metrics.json keeps every validation's iteration, training seconds and AP). Seconds depend
on the machine and its day, so put the date in the label; the iterations panel does not.
Prints a table and draws docs/shapes_frontier.png (``--plot`` elsewhere).
"""

from __future__ import annotations

import argparse
import os
import sys

from balloon_shapes.cli import guarded
from balloon_shapes.errors import DataError
from balloon_shapes.files import read_json

DEFAULT_PLOT = "docs/shapes_frontier.png"


def read_run(spec: str) -> tuple[str, list[dict]]:
    """``LABEL=RUN_DIR`` -> (label, its validations, in order)."""
    label, sep, folder = spec.rpartition("=")
    if not sep or not label:
        raise DataError(f"{spec}: expected LABEL=RUN_DIR")
    path = os.path.join(folder, "metrics.json")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file (a benchmarks/shapes_cpu.py run's output folder?)")
    history = read_json(path, DataError)
    history = history.get("history") if isinstance(history, dict) else None
    keys = {"iter", "train_seconds", "segm_AP50", "segm_AP"}
    if not history or not all(isinstance(h, dict) and keys <= h.keys() for h in history):
        raise DataError(f"{path}: no validation history ({', '.join(sorted(keys))} per row)")
    return label, history


def table(runs: list[tuple[str, list[dict]]]) -> list[str]:
    """One line per run: AP50 (AP) at each validation, with its seconds and s/iteration."""
    lines = []
    for label, hist in runs:
        cells = " ".join(
            f"{h['iter']}:{h['segm_AP50']:.3f}@{h['train_seconds']:.0f}s" for h in hist
        )
        pace = hist[-1]["train_seconds"] / hist[-1]["iter"]
        lines.append(f"{label}: {cells} | segm AP {hist[-1]['segm_AP']:.3f} | {pace:.2f} s/it")
    return lines


def plot(runs: list[tuple[str, list[dict]]], path: str, budget: float = 600) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_time, by_iter) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for label, hist in runs:
        ap = [h["segm_AP50"] for h in hist]
        by_time.plot([h["train_seconds"] for h in hist], ap, "o-", label=label)
        by_iter.plot([h["iter"] for h in hist], ap, "o-", label=label)
    for ax in (by_time, by_iter):
        ax.axhline(0.95, color="gray", ls=":", lw=1)
        ax.grid(alpha=0.3)
    by_time.axvline(budget, color="gray", ls=":", lw=1)
    by_time.set(xlabel="training seconds (validation excluded; machine and day in the label)",
                ylabel="segm AP50 (200 val images)", title="per second")  # fmt: skip
    by_iter.set(xlabel="iterations (batch 8)", title="per iteration")
    by_iter.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(specs: list[str], plot_path: str) -> int:
    runs = [read_run(s) for s in specs]
    print("\n".join(table(runs)))
    plot(runs, plot_path)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR, one per line of the plot")
    parser.add_argument("--plot", default=DEFAULT_PLOT, help="where to draw it (%(default)s)")
    args = parser.parse_args()
    sys.exit(guarded(lambda: main(args.runs, args.plot)))
