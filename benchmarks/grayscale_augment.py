"""Does training with grayscale augmentation close the RGB -> gray gap? (the paper's finding)

    python benchmarks/grayscale_augment.py [--smoke] [p ...]          # default: 0.0 0.3

For each probability p, trains the shapes default with ``data.augment.grayscale=p`` into
``outputs/grayaug_shapes_<p>`` (about 10 minutes on 2 CPU cores; an existing run is reused) and
evaluates its last checkpoint in compare mode (RGB vs 3-channel gray val images). Prints segm
AP50 in RGB and gray, the gap, and recall by luminance contrast in gray, side by side; each
evaluation's report.html has the details.
"""

from __future__ import annotations

import argparse
import os

from balloon_shapes.commands.evaluate import evaluate
from balloon_shapes.config import load_config
from balloon_shapes.engine.train import train


def run(p: str, experiment: str) -> dict:
    out = f"outputs/grayaug_{experiment}_{p}"
    ckpt = os.path.join(out, "checkpoints", "last.ckpt")
    common = [f"+experiment={experiment}", f"data.augment.grayscale={p}"]
    if not os.path.exists(os.path.join(out, "metrics.json")):
        train(load_config([*common, f"output_dir={out}"]))
    cfg = load_config(
        [*common, f"model.weights={ckpt}", "eval.grayscale=compare", f"output_dir={out}/eval"],
        "eval",
    )
    return evaluate(cfg)


def main(probabilities: list[str], experiment: str) -> None:
    results = {p: run(p, experiment) for p in probabilities}
    print("\ngrayscale augmentation on shapes (200 val images, last checkpoint, 2000 iterations)")
    print(f"{'p':>5} {'RGB AP50':>9} {'gray AP50':>9} {'gap':>7} {'RGB VOC':>8} {'gray VOC':>8}")
    for p, m in results.items():
        rgb, gray = m["rgb"]["segm"]["AP50"], m["gray"]["segm"]["AP50"]
        print(
            f"{p:>5} {rgb:>9.3f} {gray:>9.3f} {gray - rgb:>+7.3f} "
            f"{m['rgb']['voc_mAP50']:>8.3f} {m['gray']['voc_mAP50']:>8.3f}"
        )
    print("\nrecall in gray (RGB) by luminance contrast, object vs its 5 px ring:")
    rows = {p: m["robustness"]["recall_by_contrast"] for p, m in results.items()}
    first = next(iter(rows.values()))
    print(f"{'contrast':>9} {'objects':>7} " + " ".join(f"{'p=' + p:>14}" for p in rows))
    for i, r in enumerate(first):
        cells = " ".join(
            f"{rows[p][i]['recall_gray']:>6.2f} ({rows[p][i]['recall_rgb']:.2f})" for p in rows
        )
        print(f"{r['contrast']:>9} {r['objects']:>7} {cells}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("p", nargs="*", default=["0.0", "0.3"], help="grayscale probabilities")
    parser.add_argument("--smoke", action="store_true", help="+experiment=smoke: checks the script")
    args = parser.parse_args()
    main(args.p, "smoke" if args.smoke else "shapes")
