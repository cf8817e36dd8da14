"""TrackEval through our adapter: a perfect prediction scores 1, a planted ID swap and a lost
object less; J against hand-computed cases."""

import numpy as np
import pytest

from balloon_shapes.data.clips import ClipSpec, Truth, clip
from balloon_shapes.demo.tracking import mask_boxes
from balloon_shapes.evaluation.video_metrics import (
    mean_j,
    on_edge,
    track_scores,
    tracked_objects,
)
from balloon_shapes.structures import Instances

pytest.importorskip("trackeval")

FRAMES = [truth for _, truth in clip(4, ClipSpec(frames=24, objects=3))]


def as_predicted(frames, swap_from=None):
    """The ground truth as tracked instances; from ``swap_from`` on, objects 1 and 2 trade IDs."""
    out = []
    for t, objects in enumerate(frames):
        ids = [o.track_id - 1 for o in objects]
        if swap_from is not None and t >= swap_from:
            ids = [{0: 1, 1: 0}.get(i, i) for i in ids]
        masks = np.stack([o.mask for o in objects])
        out.append(Instances(mask_boxes(masks), np.array([o.category_id for o in objects]),
                             np.ones(len(objects)), masks, np.array(ids)))  # fmt: skip
    return out


def test_a_perfect_prediction_scores_one_and_a_planted_id_swap_less():
    perfect = track_scores(FRAMES, [tracked_objects(i) for i in as_predicted(FRAMES)])
    assert perfect["HOTA"] == pytest.approx(1) and perfect["IDF1"] == pytest.approx(1)
    assert perfect["IDSW"] == 0 and perfect["sMOTSA"] == pytest.approx(1)
    swapped = track_scores(FRAMES, [tracked_objects(i) for i in as_predicted(FRAMES, 12)])
    assert swapped["IDSW"] == 2 and swapped["DetA"] == pytest.approx(1)  # same masks
    assert swapped["AssA"] < 0.8 and swapped["IDF1"] < 0.8 and swapped["HOTA"] < 0.9


def test_overlapping_predictions_go_to_the_higher_score_and_unconfirmed_are_left_out():
    masks = np.zeros((3, 8, 8), bool)
    masks[0, :4], masks[1, 2:6], masks[2, 6:] = True, True, True
    inst = Instances(mask_boxes(masks), np.array([1, 2, 1]), np.array([0.6, 0.9, 0.8]), masks,
                     np.array([0, 1, -1]))  # fmt: skip
    objects = {o.track_id: o.mask for o in tracked_objects(inst)}
    assert sorted(objects) == [1, 2]  # 0-based track IDs become MOTS IDs from 1
    assert objects[2].sum() == 32 and objects[1].sum() == 16 and not (objects[1] & objects[2]).any()


def test_j_is_the_mean_iou_of_each_object_with_its_best_one_to_one_match():
    a = np.zeros((4, 4), bool)
    a[:2] = True  # 8 pixels
    b = np.zeros((4, 4), bool)
    b[2:] = True
    half = np.zeros((4, 4), bool)
    half[:1] = True  # 4 of a's 8: IoU 0.5
    truth = [[Truth(1, 1, a), Truth(2, 1, b)]]
    pred = Instances(np.zeros((2, 4)), np.ones(2, int), np.ones(2), np.stack([b, half]))
    assert mean_j(truth, [pred]) == pytest.approx((1.0 + 0.5) / 2)
    nothing = Instances(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), np.zeros((0, 4, 4), bool))
    assert mean_j(truth, [nothing]) == 0.0
    one = Instances(np.zeros((1, 4)), np.ones(1, int), np.ones(1), a[None])
    assert mean_j([[Truth(1, 1, a), Truth(2, 1, half)]], [one]) == pytest.approx(0.5)  # used once


def test_j_can_count_only_the_objects_the_frames_edge_cuts():
    inner, edge, half = (np.zeros((8, 8), bool) for _ in range(3))
    inner[3:5, 3:5], edge[0, 2:6], half[0, 2:4] = True, True, True  # half: IoU 0.5 with edge
    truth = [[Truth(1, 1, inner), Truth(2, 1, edge)], [Truth(1, 1, inner)]]
    pred = Instances(np.zeros((2, 4)), np.ones(2, int), np.ones(2), np.stack([half, inner]))
    preds = [pred, pred[np.array([1])]]
    assert mean_j(truth, preds, on_edge) == pytest.approx(0.5)  # the edge object, matched to half
    assert mean_j(truth, preds, lambda m: not on_edge(m)) == pytest.approx(1.0)  # inner, twice
    assert mean_j(truth, preds) == pytest.approx(2.5 / 3)
    assert np.isnan(mean_j(truth[1:], preds[1:], on_edge))  # no object on the edge


@pytest.mark.parametrize("pixel", [(0, 4), (7, 4), (4, 0), (4, 7)])
def test_a_mask_touching_any_side_is_on_the_edge(pixel):
    mask = np.zeros((8, 8), bool)
    mask[pixel] = mask[4, 4] = True
    assert on_edge(mask) and not on_edge(np.pad(mask[1:-1, 1:-1], 1))
