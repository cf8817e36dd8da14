"""Which images to label next: does ranking by uncertainty beat labelling random ones?

    python benchmarks/active_labeling.py [--smoke] [--rounds 3] [--start 40] [--add 20] \
        [--pool 400] [--iters 500]

A pool of shapes images stands in for unlabelled photos whose labels a person would draw.
Every measure starts from the same ``--start`` labelled images and the same model trained on
them; each round the model ranks the rest of the pool (``demo.uncertainty``: band, flip, or
random), the top ``--add`` get their labels, and a model is trained again from the same
initialisation for ``--iters`` iterations and validated on the 200 fixed val images. Prints
segm AP50 per round and measure, and the gain per labelled image over the first model.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from balloon_shapes.config import load_config
from balloon_shapes.data import catalog, shapes
from balloon_shapes.data.mapper import load_pixels
from balloon_shapes.demo import uncertainty
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.engine.train import train
from balloon_shapes.model_loader import load_model

POOL_SEED = 424242  # a stream of its own: disjoint from shapes_train and shapes_val


def pool_records(size: int, spec: shapes.ShapesSpec) -> list[dict]:
    return [shapes.to_record(POOL_SEED, i, spec) for i in range(size)]


def train_on(name: str, records: list[dict], base: list[str], iters: int) -> tuple[float, str]:
    """Train on ``records`` (registered as dataset ``name``); (segm AP50, checkpoint)."""
    catalog.remove(name)
    catalog.register(name, lambda **_: records, catalog.SHAPES_META)
    out = f"outputs/active_labeling/{name}"
    overrides = [*base, f"data.train={name}", "data.shuffle=true", f"output_dir={out}"]
    overrides += [f"train.max_iter={iters}", f"train.eval_period={iters}"]
    metrics = train(load_config(overrides))
    return float(metrics["segm_AP50"]), os.path.join(out, "checkpoints", "last.ckpt")


def rank(measure: str, checkpoint: str, base: list[str], pool: list[dict], left: list[int]):
    """Indices of ``left`` ordered most uncertain first under ``measure``."""
    cfg = load_config([*base, f"model.weights={checkpoint}"], "annotate")
    model, names = load_model(cfg)
    predictor = Predictor(
        model, names, score_thresh=0.05, mask_thresh=cfg.model.mask_thresh, device="cpu",
        amp=cfg.inference.amp, grayscale=False,
    )  # fmt: skip
    scores = {}
    for i in left:
        image = load_pixels(pool[i])
        (inst,) = predictor.infer([image])
        if measure == "band":
            scores[str(i)] = uncertainty.band_score(inst)
        elif measure == "flip":
            (mirror,) = predictor.infer([np.ascontiguousarray(image[:, ::-1])])
            scores[str(i)] = uncertainty.flip_disagreement(inst, mirror)
        else:
            scores[str(i)] = uncertainty.random_score(f"pool-{i}")
    return [int(k) for k, _ in uncertainty.ranking(scores)]


def main(args: argparse.Namespace) -> None:
    base = ["+experiment=smoke"] if args.smoke else ["+experiment=shapes"]
    spec = shapes.ShapesSpec(**load_config(base).data.shapes)
    pool = pool_records(args.pool, spec)
    start = list(range(args.start))
    ap0, ckpt0 = train_on("al_start", [pool[i] for i in start], base, args.iters)
    print(f"RESULT start: {len(start)} labelled, segm AP50 {ap0:.3f}")
    results = {}
    for measure in args.measures:
        labelled, ckpt, curve = list(start), ckpt0, [ap0]
        for r in range(1, args.rounds + 1):
            left = [i for i in range(len(pool)) if i not in set(labelled)]
            labelled += rank(measure, ckpt, base, pool, left)[: args.add]
            ap, ckpt = train_on(f"al_{measure}_{r}", [pool[i] for i in labelled], base, args.iters)
            curve.append(ap)
            print(f"RESULT {measure} round {r}: {len(labelled)} labelled, segm AP50 {ap:.3f}")
        results[measure] = curve
    sizes = [args.start + r * args.add for r in range(args.rounds + 1)]
    print(f"\nsegm AP50 on shapes val after training {args.iters} iterations on N labelled images")
    print(f"{'measure':>8} " + " ".join(f"{'N=' + str(n):>7}" for n in sizes) + "  gain/image")
    for measure, curve in results.items():
        gain = (curve[-1] - curve[0]) / (sizes[-1] - sizes[0])
        print(f"{measure:>8} " + " ".join(f"{v:>7.3f}" for v in curve) + f"  {gain:+.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=int, default=40, help="labelled images to begin with")
    parser.add_argument("--add", type=int, default=20, help="images labelled per round")
    parser.add_argument("--pool", type=int, default=400, help="unlabelled images to rank")
    parser.add_argument("--iters", type=int, default=500, help="training iterations per model")
    parser.add_argument("--measures", nargs="+", default=["random", "band", "flip"])
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.start, args.add, args.pool, args.iters = 1, 4, 2, 8, 2
    main(args)
