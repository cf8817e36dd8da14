"""Objects that hold together across video frames: track IDs and masks carried between model runs.

IDs come from a maintained tracker library, ``trackers`` (Roboflow, Apache-2.0: SORT, ByteTrack,
OC-SORT, BoT-SORT with no weights to download; the ``tracker`` key of demo.yaml picks one and its
settings). An object that leaves the frame for longer than the tracker's buffer, or that it loses
and starts anew, gets its old ID back when it looks the same (``ReIdentifier``: the color
histogram inside its mask, ``reid`` in demo.yaml). Between two model frames (``every_n`` > 1)
the last masks are warped along OpenCV's DIS optical flow (``carry=flow``), or kept in place
(``carry=freeze``, for comparison).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import supervision as sv
from scipy.ndimage import convolve1d
from scipy.optimize import linear_sum_assignment

from balloon_shapes.evaluation.matching import mask_ious
from balloon_shapes.structures import Instances, encode_rles

CARRY = ("flow", "freeze")


class Tracker:
    """A ``trackers`` tracker over our :class:`Instances`: each frame's instances (the model's,
    or masks carried along the flow) get the ID of the object they continue (-1 in the first
    frame an object is seen: the tracker confirms a track on its second match). Mask R-CNN
    suppresses duplicates within a class only, so one object found as two classes (a circle
    and an ellipse) is first made one, the higher-scored (``same_object_iou``, mask IoU): two
    tracks would otherwise trade places."""

    def __init__(self, tracker, same_object_iou: float = 1.0, reid: ReIdentifier | None = None):
        self.tracker, self.same_object_iou, self.reid = tracker, same_object_iou, reid

    def update(
        self, inst: Instances, seconds: float, image: np.ndarray, carried: bool = False
    ) -> Instances:
        """``inst`` with ``ids``; ``seconds``: the frame's time (variable rates, ``every_n``);
        ``image``: the frame (RGB) the instances are on; ``carried``: masks carried from a
        model frame's, already one per object (the check cost 80 ms at 100 masks, 640x480)."""
        if not carried:
            inst = inst[one_per_object(inst.masks, inst.scores, self.same_object_iou)]
        detections = sv.Detections(
            xyxy=np.asarray(inst.boxes, np.float32).reshape(-1, 4),
            confidence=np.asarray(inst.scores, np.float32),
            class_id=np.asarray(inst.labels, np.int64),
            data={"index": np.arange(len(inst))},
        )
        tracked = self.tracker.update(detections, timestamp=seconds)
        ids = np.full(len(inst), -1, np.int64)
        if len(tracked):  # an empty frame still ages the tracks (its result has no data)
            ids[np.asarray(tracked.data["index"], np.int64)] = tracked.tracker_id
        inst = Instances(inst.boxes, inst.labels, inst.scores, inst.masks, ids)
        return inst if self.reid is None else self.reid(inst, image, seconds, carried)


@dataclass
class Seen:
    """What re-identification remembers of one ID: its color histogram (the mean of every
    frame's), how many frames made it, its class votes and when it was last seen."""

    histogram: np.ndarray
    frames: int
    votes: Counter
    last: float


class Histograms(dict):
    """Each instance's color histogram, computed when first read."""

    def __init__(self, read: Callable[[int], np.ndarray]):
        super().__init__()
        self.read = read

    def __missing__(self, k: int) -> np.ndarray:
        self[k] = self.read(k)
        return self[k]


class ReIdentifier:
    """Our IDs over the tracker's: a track the tracker starts takes the ID of an object that is
    not in the frame, was seen within ``memory_s`` seconds, and whose color histogram inside the
    mask (OpenCV, ``bins`` per RGB channel) is within ``max_distance`` (Bhattacharyya, 0 same,
    1 disjoint) of the new track's; with ``same_class``, of its class too. Matches are paired
    one to one by distance (Hungarian); a track nothing matches gets the next new ID. A lost
    track the tracker takes up again is matched the same way, its own ID among the candidates,
    and keeps it when nothing is close: the tracker's guess is motion alone. A track carried
    on from the last frame whose color now lies beyond ``max_distance`` of its ID's is matched
    as a new one: where one object leaves as another enters, motion hands the track over."""

    def __init__(self, max_distance: float, memory_s: float, same_class: bool, bins: int):
        self.max_distance, self.memory_s = max_distance, memory_s
        self.same_class, self.bins = same_class, bins
        self.ours: dict[int, int] = {}  # the tracker's ID -> ours
        self.owner: dict[int, int] = {}  # our ID -> the tracker's ID that took it last
        self.seen: dict[int, Seen] = {}
        self.previous: set[int] = set()  # the tracker's IDs in the last frame
        self.next_id = 0

    def __call__(
        self, inst: Instances, image: np.ndarray, seconds: float, carried: bool = False
    ) -> Instances:
        """``inst`` (the tracker's ``ids``, -1 unconfirmed) with our IDs instead. On a frame of
        ``carried`` masks only new tracks are matched and remembered (its colors are the model
        frame's, moved): a histogram per object and frame cost 0.2 ms, 20 ms at 100."""
        tracked = [k for k in range(len(inst)) if inst.ids[k] >= 0]
        hists = Histograms(lambda k: self.histogram(image, inst.masks[k]))
        # a lost track the tracker takes up again (by motion alone) is matched anew, its own
        # ID among the candidates: an object re-entering where another left takes its own ID
        resumed = {k: self.ours.pop(t) for k in tracked
                   if (t := int(inst.ids[k])) in self.ours and t not in self.previous}  # fmt: skip
        if not carried:  # carried masks are the model frame's objects, moved
            for k in self.jumped(tracked, hists, inst.ids):
                del self.ours[int(inst.ids[k])]
        self.previous = {int(inst.ids[k]) for k in tracked}
        new = [k for k in tracked if int(inst.ids[k]) not in self.ours]
        present = self.unique([int(inst.ids[k]) for k in tracked if k not in new])
        matched = self.match(new, present, hists, inst.labels, seconds)
        taken = present | set(matched.values())
        for k in new:
            ours = matched.get(k, resumed.get(k))
            if ours is None or (k not in matched and ours in taken):
                self.fresh(int(inst.ids[k]))
            else:
                self.ours[int(inst.ids[k])], self.owner[ours] = ours, int(inst.ids[k])
                taken.add(ours)
        ids = np.array([self.ours.get(int(t), -1) for t in inst.ids], np.int64)
        for k in new if carried else tracked:
            self.remember(int(ids[k]), hists[k], int(inst.labels[k]), seconds)
        return Instances(inst.boxes, inst.labels, inst.scores, inst.masks, ids)

    def jumped(self, tracked: list[int], hists: dict, tracks: np.ndarray) -> list[int]:
        """Tracks the tracker carried on from the last frame onto an object of another color:
        where one object leaves as another enters, motion alone hands the track over."""
        out = []
        for k in tracked:
            t = int(tracks[k])
            seen = self.seen.get(self.ours.get(t, -1)) if t in self.previous else None
            if seen is None:
                continue
            apart = cv2.compareHist(hists[k], seen.histogram, cv2.HISTCMP_BHATTACHARYYA)
            if apart > self.max_distance:
                out.append(k)
        return out

    def fresh(self, track: int) -> None:
        self.ours[track] = self.owner[self.next_id] = self.next_id
        self.next_id += 1

    def unique(self, tracks: list[int]) -> set[int]:
        """Our IDs of the frame's known tracks. A lost track the tracker takes up again after
        its ID went to a new track would share it: the earlier track gets a new ID."""
        for t in tracks:
            shared = sum(self.ours[u] == self.ours[t] for u in tracks) > 1
            if shared and self.owner[self.ours[t]] != t:
                self.fresh(t)
        return {self.ours[t] for t in tracks}

    def match(self, new: list[int], present: set[int], hists: dict, labels, seconds: float) -> dict:
        """New tracks (indices) -> the lost IDs they continue."""
        for i in [i for i, s in self.seen.items() if seconds - s.last > self.memory_s]:
            del self.seen[i]  # forgotten: a webcam's hours of IDs do not pile up
        lost = [i for i in self.seen if i not in present]
        if not new or not lost:
            return {}
        cost = np.array([[self.distance(hists[k], int(labels[k]), self.seen[i]) for i in lost]
                         for k in new])  # fmt: skip
        rows, cols = linear_sum_assignment(np.minimum(cost, 2.0))
        return {new[r]: lost[c] for r, c in zip(rows, cols) if cost[r, c] <= self.max_distance}

    def distance(self, hist: np.ndarray, label: int, seen: Seen) -> float:
        if self.same_class and seen.votes.most_common(1)[0][0] != label:
            return np.inf
        return cv2.compareHist(hist, seen.histogram, cv2.HISTCMP_BHATTACHARYYA)

    def remember(self, i: int, hist: np.ndarray, label: int, seconds: float) -> None:
        s = self.seen.setdefault(i, Seen(np.zeros_like(hist), 0, Counter(), seconds))
        s.frames += 1
        s.histogram += (hist - s.histogram) / s.frames
        s.votes[label] += 1
        s.last = seconds

    def histogram(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The normalised RGB histogram of ``image`` inside ``mask``, float32; only the mask's
        box is read (a whole 640x480 frame per object cost 0.9 ms, 90 ms at 100 objects)."""
        x0, y0, x1, y1 = mask_boxes(mask[None])[0].astype(int)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        hist = cv2.calcHist([crop], [0, 1, 2], mask[y0:y1, x0:x1].astype(np.uint8),
                            [self.bins] * 3, [0, 256] * 3)  # fmt: skip
        for axis in range(3):  # each pixel also counts half in its neighbouring bins: a color
            # near a bin's edge, which compression moves across it, still meets itself
            hist = convolve1d(hist, [0.5, 1.0, 0.5], axis=axis, mode="constant")
        return (hist / max(float(hist.sum()), 1.0)).ravel()


@dataclass
class TrackLog:
    """What each track did: class votes, first and last frame, frames seen."""

    votes: dict[int, Counter] = field(default_factory=dict)
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)

    def add(self, frame: int, inst: Instances) -> None:
        for track, label in zip(inst.ids if inst.ids is not None else (), inst.labels):
            if track >= 0:
                self.votes.setdefault(int(track), Counter())[int(label)] += 1
                self.first.setdefault(int(track), frame)
                self.last[int(track)] = frame

    def summary(self, names: list[str]) -> list[dict]:
        """One row per track: its ID, class by majority vote, first/last frame, frames seen."""
        return [
            {
                "track_id": t,
                "class": names[votes.most_common(1)[0][0] - 1],
                "first_frame": self.first[t],
                "last_frame": self.last[t],
                "frames": sum(votes.values()),
            }
            for t, votes in sorted(self.votes.items())
        ]


def summary_lines(rows: list[dict]) -> list[str]:
    """The per-track summary as lines a terminal shows."""
    head = f"{'track':>5}  {'class':<12} {'first':>6} {'last':>6} {'frames':>6}"
    return [head] + [
        f"{r['track_id']:>5}  {r['class']:<12} {r['first_frame']:>6} {r['last_frame']:>6} "
        f"{r['frames']:>6}"
        for r in rows
    ]


class FlowCarrier:
    """Carries masks from one frame to the next along dense optical flow (OpenCV's DIS), computed
    on gray frames scaled to at most ``flow_size`` px on the longer side (flow is smooth, and its
    cost falls with the square of the size); boxes are recomputed from the warped masks."""

    def __init__(self, flow_size: int = 320) -> None:
        self.flow_size = flow_size
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def flow(self, frame: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """For each pixel of ``frame``, where it was in ``previous`` (dx, dy), float32 [H, W, 2]."""
        h, w = frame.shape[:2]
        scale = min(1.0, self.flow_size / max(h, w))
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        gray = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
                for f in (frame, previous)]  # fmt: skip
        small = self.dis.calc(gray[0], gray[1], None)
        flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / size[0]
        flow[..., 1] *= h / size[1]
        return flow

    def __call__(self, previous: np.ndarray, frame: np.ndarray, inst: Instances) -> Instances:
        """``inst`` (on ``previous``) moved onto ``frame``; instances that leave it are dropped."""
        if not len(inst):
            return inst
        h, w = frame.shape[:2]
        flow = self.flow(frame, previous)
        reach = int(np.ceil(np.abs(flow).max())) + 1  # no pixel moves further than this
        masks = np.zeros_like(inst.masks)
        for k, (m, box) in enumerate(zip(inst.masks, mask_boxes(inst.masks))):
            # only around the mask: each mask's cost is its size, not the frame's (a model's
            # mask may reach past its box: Mask R-CNN pastes it into a slightly larger one)
            x0, y0 = max(0, int(box[0]) - reach), max(0, int(box[1]) - reach)
            x1, y1 = min(w, int(np.ceil(box[2])) + reach), min(h, int(np.ceil(box[3])) + reach)
            if x1 > x0 and y1 > y0:
                # where each pixel of the window was: its own coordinates plus the flow there
                window = flow[y0:y1, x0:x1]
                map_x = window[..., 0] + np.arange(x0, x1, dtype=np.float32)[None, :]
                map_y = window[..., 1] + np.arange(y0, y1, dtype=np.float32)[:, None]
                masks[k, y0:y1, x0:x1] = cv2.remap(
                    m.astype(np.uint8) * 255, map_x, map_y, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0,
                ) >= 128  # fmt: skip
        moved = Instances(mask_boxes(masks), inst.labels, inst.scores, masks, inst.ids)
        return moved[masks.any(axis=(1, 2))]


def one_per_object(masks: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices to keep, by score: an instance whose mask overlaps a kept one by more than
    ``iou`` (intersection over union) is the same object again."""
    if len(masks) < 2:
        return np.arange(len(masks))
    rles = encode_rles(masks)  # pycocotools on RLEs: no dense [N, H*W] copy per model frame
    overlap = mask_ious(rles, rles)
    keep: list[int] = []
    for k in np.argsort(-np.asarray(scores), kind="stable"):
        if all(overlap[k, j] <= iou for j in keep):
            keep.append(int(k))
    return np.array(sorted(keep), np.int64)


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight XYXY boxes of bool masks [N, H, W] in pixel-edge coordinates (zeros for empty)."""
    boxes = np.zeros((len(masks), 4))
    for k, m in enumerate(masks):
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        if len(rows):
            boxes[k] = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
    return boxes


def keep_only(inst: Instances, tracks: list[int]) -> Instances:
    """The instances of ``tracks`` (all when empty): what ``keep_tracks`` leaves in color."""
    if not tracks or inst.ids is None:
        return inst
    return inst[np.isin(inst.ids, tracks)]
