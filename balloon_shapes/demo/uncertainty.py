"""How unsure a model is about an image: which unlabelled images to label next.

``band``: detections whose score is neither high nor low, summed as ``1 - |2s - 1|`` (1 at a
score of 0.5, 0 at 0 or 1). ``flip``: the model on the image and on its mirror image
disagree: one minus the mean mask IoU of the two sets' pairs (Hungarian on mask IoU, class
ignored), an unpaired instance counting 0. ``random`` is the baseline a ranking must beat
(``benchmarks/active_labeling.py`` measures them).
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.optimize import linear_sum_assignment

from balloon_shapes.evaluation.matching import mask_ious
from balloon_shapes.structures import Instances, encode_rles

MEASURES = ("band", "flip", "random")


def band_score(inst: Instances) -> float:
    """Sum over detections of ``1 - |2s - 1|``: the mass of scores in the middle."""
    scores = np.asarray(inst.scores, dtype=float)
    return float(np.sum(1.0 - np.abs(2.0 * scores - 1.0)))


def flip_disagreement(inst: Instances, mirrored: Instances) -> float:
    """1 - mean IoU over the pairs of ``inst`` and ``mirrored`` (the model's instances on the
    left-right mirrored image, masks still mirrored); 0 when neither found anything."""
    n = len(inst) + len(mirrored)
    if n == 0:
        return 0.0
    back = np.ascontiguousarray(np.asarray(mirrored.masks)[:, :, ::-1])
    ious = mask_ious(encode_rles(np.asarray(inst.masks)), encode_rles(back))
    if ious.size == 0:
        return 1.0
    rows, cols = linear_sum_assignment(-ious)
    return float(1.0 - 2.0 * ious[rows, cols].sum() / n)


def random_score(name: str) -> float:
    """A fixed pseudo-random number per image name: the baseline, reproducible."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def ranking(scores: dict[str, float]) -> list[tuple[str, float]]:
    """Images most uncertain first (ties by name, so the order is reproducible)."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
