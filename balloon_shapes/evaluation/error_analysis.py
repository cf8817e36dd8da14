"""Why AP is what it is: TIDE-style error breakdown, confusion matrix, per-class P/R.

TIDE (Bolya et al., ECCV 2020) sorts every prediction that is not a true positive at the
foreground IoU ``t_f`` (0.5) into one error, by its mask IoUs with the ground truth, tested in
this order (TIDE's):

- ``loc``: t_b <= IoU <= t_f with a same-class object (right class, poorly placed);
- ``cls``: IoU >= t_f with an object of another class (right place, wrong class);
- ``dupe``: IoU >= t_f with a same-class object that a higher-scored prediction already took;
- ``bkg``: IoU <= t_b (0.1) with every object: a detection of nothing;
- ``both``: anything else (wrong class and poorly placed);
- ``miss``: an object no true positive took and no ``cls``/``loc`` error points at.

Each error's weight is dAP50: AP50 with that kind of error fixed by an oracle minus AP50 as is
(the highest-scored ``cls``/``loc`` error pointing at a free object becomes its true positive,
the others are dropped; ``dupe``/``bkg``/``both`` are dropped; ``miss``ed objects leave the
ground truth). Implemented here rather than taken from ``tidecv``, which pulls pandas,
seaborn and a second ``cv2``; each type is tested on a hand-built case (the README compares the
two on the shapes model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from balloon_shapes.evaluation.matching import match_image

ERROR_TYPES = ("cls", "loc", "both", "dupe", "bkg", "miss")
ERROR_NAMES = {
    "cls": "classification",
    "loc": "localisation",
    "both": "class and location",
    "dupe": "duplicate",
    "bkg": "background",
    "miss": "missed",
}


@dataclass
class Detection:
    """One prediction's outcome: class, score, image and the object it took or points at."""

    label: int
    score: float
    image: int
    kind: str  # "tp" or one of ERROR_TYPES but "miss"
    target: int = -1  # ground-truth index in its image (tp, cls, loc), else -1


@dataclass
class Outcomes:
    """Every prediction's outcome and every object's class, per image."""

    detections: list[Detection] = field(default_factory=list)
    gt_labels: list[np.ndarray] = field(default_factory=list)
    missed: list[np.ndarray] = field(default_factory=list)  # per image: bool per object


def classify_image(pred: dict, gt: dict, image: int, t_f: float, t_b: float) -> tuple:
    """Detections of one image (score order) and which objects are missed."""
    order, ious, matched = match_image(pred, gt, t_f)
    gt_labels = np.asarray(gt["labels"], np.int64)
    dets = []
    for i, row, j in zip(order, ious, matched):
        label, score = int(pred["labels"][i]), float(pred["scores"][i])
        if j >= 0:
            dets.append(Detection(label, score, image, "tp", int(j)))
            continue
        kind, target = error_kind(row, gt_labels == label, t_f, t_b)
        dets.append(Detection(label, score, image, kind, target))
    pointed = [d.target for d in dets if d.kind in ("cls", "loc")]
    missed = ~np.isin(np.arange(len(gt_labels)), [*matched, *pointed])  # -1s match nothing
    return dets, gt_labels, missed


def error_kind(row: np.ndarray, same: np.ndarray, t_f: float, t_b: float) -> tuple[str, int]:
    """The TIDE error of a non-true-positive prediction from its IoUs with every object, tested
    in TIDE's order: loc, cls, dupe, bkg, then both."""
    same_iou = np.where(same, row, 0.0)
    other_iou = np.where(same, 0.0, row)
    if t_b <= same_iou.max(initial=0.0) <= t_f:
        return "loc", int(np.argmax(same_iou))
    if other_iou.max(initial=0.0) >= t_f:
        return "cls", int(np.argmax(other_iou))
    if same_iou.max(initial=0.0) >= t_f:  # not matched, so that object was already taken
        return "dupe", -1
    if row.max(initial=0.0) <= t_b:
        return "bkg", -1
    return "both", -1


def outcomes(preds: list[dict], gts: list[dict], t_f: float = 0.5, t_b: float = 0.1) -> Outcomes:
    """Classify every prediction of every image (compact predictions, their ground truth)."""
    out = Outcomes()
    for image, (pred, gt) in enumerate(zip(preds, gts)):
        dets, labels, missed = classify_image(pred, gt, image, t_f, t_b)
        out.detections += dets
        out.gt_labels.append(labels)
        out.missed.append(missed)
    return out


def ap50(dets: list[tuple[int, float, bool]], num_gt: dict[int, int]) -> float:
    """COCO-style AP (101 recall points, precision made monotone) per class, mean over the
    classes that have ground truth. ``dets``: (label, score, is_true_positive)."""
    aps = []
    for c, n in sorted(num_gt.items()):
        if n <= 0:
            continue
        mine = [(s, tp) for lab, s, tp in dets if lab == c]
        order = np.argsort([-s for s, _ in mine], kind="mergesort")  # ties: input order, as COCO
        tp = np.cumsum([mine[i][1] for i in order], dtype=np.float64)
        precision = tp / np.arange(1, len(mine) + 1)
        recall = tp / n
        precision = np.maximum.accumulate(precision[::-1])[::-1] if len(mine) else precision
        idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        aps.append(float(np.mean([precision[i] if i < len(mine) else 0.0 for i in idx])))
    return float(np.mean(aps)) if aps else 0.0


def fixed(o: Outcomes, kind: str | None) -> tuple[list[tuple[int, float, bool]], dict[int, int]]:
    """Detections and object counts with every error of ``kind`` fixed by the oracle.

    As TIDE: of all ``cls`` and ``loc`` errors pointing at one free object, only the
    highest-scored is fixed (when it is of ``kind``); the others are dropped."""
    dets_sorted = sorted(o.detections, key=lambda d: -d.score)
    taken = {(d.image, d.target) for d in dets_sorted if d.kind == "tp"}
    best: dict[tuple[int, int], int] = {}
    for i, d in enumerate(dets_sorted):
        if d.kind in ("cls", "loc"):
            best.setdefault((d.image, d.target), i)
    dets = []
    for i, d in enumerate(dets_sorted):
        if kind in ("cls", "loc") and d.kind == kind:
            key = (d.image, d.target)
            if key not in taken and best[key] == i:
                dets.append((int(o.gt_labels[d.image][d.target]), d.score, True))
        elif d.kind != kind or kind is None:
            dets.append((d.label, d.score, d.kind == "tp"))
    num_gt: dict[int, int] = {}
    for labels, missed in zip(o.gt_labels, o.missed):
        for lab, m in zip(labels, missed):
            num_gt[int(lab)] = num_gt.get(int(lab), 0) + (0 if kind == "miss" and m else 1)
    return dets, num_gt


def breakdown(o: Outcomes) -> dict:
    """AP50, and per error type its count and dAP50 (AP50 gained by fixing it)."""
    base = ap50(*fixed(o, None))
    counts = {k: sum(d.kind == k for d in o.detections) for k in ERROR_TYPES}
    counts["miss"] = int(sum(m.sum() for m in o.missed))
    return {
        "AP50": base,
        # as TIDE: a negative change is interpolation noise, not an error's weight
        "dAP50": {k: max(0.0, ap50(*fixed(o, k)) - base) for k in ERROR_TYPES},
        "counts": counts,
        "true_positives": sum(d.kind == "tp" for d in o.detections),
    }


def images_with(o: Outcomes, min_score: float) -> dict[str, list[int]]:
    """Per error type, the images (indices) with such an error scored >= ``min_score``."""
    found: dict[str, list[int]] = {k: [] for k in ERROR_TYPES}
    for d in o.detections:
        if d.kind != "tp" and d.score >= min_score and d.image not in found[d.kind]:
            found[d.kind].append(d.image)
    found["miss"] = [i for i, m in enumerate(o.missed) if m.any()]
    return found


def confusion(preds: list[dict], gts: list[dict], num_classes: int, min_score: float) -> np.ndarray:
    """[C+1, C+1] counts: row = true class, column = predicted class, last row/column
    background. Predictions >= ``min_score`` take the best-IoU free object (any class) at mask
    IoU >= 0.5 in score order; an unmatched prediction counts in the background row, an
    unmatched object in the background column."""
    bg = num_classes
    m = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for pred, gt in zip(preds, gts):
        order, _, matched = match_image(pred, gt, 0.5, min_score, any_class=True)
        for i, j in zip(order, matched):
            p = int(pred["labels"][i]) - 1
            m[int(gt["labels"][j]) - 1 if j >= 0 else bg, p] += 1
        for j in np.setdiff1d(np.arange(len(gt["labels"])), matched):
            m[int(gt["labels"][j]) - 1, bg] += 1
    return m


def per_class(o: Outcomes, names: list[str], min_score: float) -> list[dict]:
    """Per class: objects, predictions >= ``min_score``, precision and recall at mask IoU 0.5
    (a prediction counts only for an object of its own class). Matching runs in score order,
    so the predictions >= ``min_score`` match exactly as they would without the others."""
    rows = []
    for c, name in enumerate(names, start=1):
        n_gt = int(sum((lab == c).sum() for lab in o.gt_labels))
        mine = [d for d in o.detections if d.label == c and d.score >= min_score]
        tp = sum(d.kind == "tp" for d in mine)
        rows.append(
            {
                "class": name,
                "objects": n_gt,
                "predictions": len(mine),
                "precision": tp / len(mine) if mine else float("nan"),
                "recall": tp / n_gt if n_gt else float("nan"),
            }
        )
    return rows


def analyse(preds: list[dict], gts: list[dict], names: list[str], score_thresh: float) -> dict:
    """TIDE breakdown (all scores), confusion matrix and per-class P/R (>= ``score_thresh``)."""
    o = outcomes(preds, gts)  # every prediction's outcome, mask IoUs computed once
    return {
        "breakdown": breakdown(o),
        "confusion": confusion(preds, gts, len(names), score_thresh).tolist(),
        "per_class": per_class(o, names, score_thresh),
        "score_thresh": score_thresh,
        "images_with": images_with(o, score_thresh),
    }
