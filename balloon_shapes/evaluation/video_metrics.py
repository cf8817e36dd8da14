"""How well a tracked video matches its ground truth: HOTA (DetA, AssA), IDF1, ID switches and
sMOTSA from TrackEval (MIT; an optional dependency: ``pip install '.[bench]'``), and J, the
mean mask IoU per ground-truth object and frame.

TrackEval's MOTS reader knows one class (pedestrian), so tracks are scored class-agnostically:
every object is written as its class 2; a track's class is not part of these numbers.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from balloon_shapes.data.clips import Truth, write_mots
from balloon_shapes.evaluation.matching import mask_ious
from balloon_shapes.structures import Instances, encode_rles

MOTS_PEDESTRIAN = 2  # the one class TrackEval's MOTSChallenge reads
SEQ = "clip"


def tracked_objects(inst: Instances) -> list[Truth]:
    """The confirmed tracks of one frame as MOTS objects; a pixel claimed by several goes to the
    highest-scored one (MOTS masks may not overlap)."""
    if inst.ids is None:
        raise ValueError("tracked_objects needs tracked instances (ids)")
    order = np.argsort(-np.asarray(inst.scores), kind="stable")
    taken = np.zeros(inst.masks.shape[1:], bool)
    out = []
    for k in order:
        if inst.ids[k] < 0:
            continue
        mask = inst.masks[k] & ~taken
        taken |= mask
        if mask.any():
            out.append(Truth(int(inst.ids[k]) + 1, int(inst.labels[k]), mask))
    return out


def as_pedestrians(frames: list[list[Truth]]) -> list[list[Truth]]:
    return [[Truth(o.track_id, MOTS_PEDESTRIAN, o.mask) for o in objects] for objects in frames]


def track_scores(truth: list[list[Truth]], predicted: list[list[Truth]]) -> dict[str, float]:
    """TrackEval on one sequence: HOTA, DetA, AssA (means over its IoU thresholds), IDF1,
    IDSW and sMOTSA (TrackEval's sMOTA on masks). Both arguments: objects per frame."""
    import trackeval  # optional: only the benchmark and its tests need it

    height, width = next(o.mask.shape for objects in truth + predicted for o in objects)
    with tempfile.TemporaryDirectory() as root:
        gt = os.path.join(root, "gt", SEQ, "gt", "gt.txt")
        pred = os.path.join(root, "trackers", "ours", "data", f"{SEQ}.txt")
        write_mots(gt, as_pedestrians(truth), height, width)
        write_mots(pred, as_pedestrians(predicted), height, width)
        dataset = trackeval.datasets.MOTSChallenge({
            "GT_FOLDER": os.path.join(root, "gt"),
            "TRACKERS_FOLDER": os.path.join(root, "trackers"),
            "SKIP_SPLIT_FOL": True, "SEQ_INFO": {SEQ: len(truth)}, "PRINT_CONFIG": False,
            "OUTPUT_FOLDER": os.path.join(root, "out"),
        })  # fmt: skip
        evaluator = trackeval.Evaluator({
            "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False,
            "LOG_ON_ERROR": None,
        })  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):  # TrackEval prints configs and progress
            metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(),
                       trackeval.metrics.Identity()]  # fmt: skip
            results, _ = evaluator.evaluate([dataset], metrics)
    res = results["MOTSChallenge"]["ours"]["COMBINED_SEQ"]["pedestrian"]
    hota = res["HOTA"]
    return {
        "HOTA": float(np.mean(hota["HOTA"])),
        "DetA": float(np.mean(hota["DetA"])),
        "AssA": float(np.mean(hota["AssA"])),
        "IDF1": float(res["Identity"]["IDF1"]),
        "IDSW": int(res["CLEAR"]["IDSW"]),
        "sMOTSA": float(res["CLEAR"]["sMOTA"]),
    }


def on_edge(mask: np.ndarray) -> bool:
    """Whether the frame's edge cuts this mask (it touches the first or last row or column)."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def mean_j(
    truth: list[list[Truth]],
    predicted: list[Instances],
    where: Callable[[np.ndarray], bool] | None = None,
) -> float:
    """J: each frame's ground-truth objects matched one-to-one to its predicted masks by IoU
    (Hungarian), the mean IoU over every object in every frame (an unmatched one scores 0).
    ``where(mask)``: only the objects it accepts count (all of them are matched); NaN if none."""
    scores, counted = [], []
    for objects, inst in zip(truth, predicted):
        if not objects:
            continue
        iou = mask_ious(encode_rles(np.stack([o.mask for o in objects])), encode_rles(inst.masks))
        matched = np.zeros(len(objects))
        if iou.size:
            rows, cols = linear_sum_assignment(iou, maximize=True)
            matched[rows] = iou[rows, cols]
        scores.extend(matched)
        counted.extend(where is None or where(o.mask) for o in objects)
    picked = np.asarray(scores)[np.asarray(counted, bool)]
    if picked.size:
        return float(picked.mean())
    return 0.0 if where is None else float("nan")
