"""Uncertainty measures on hand-made instances with hand-computed values."""

import numpy as np
import pytest

from balloon_shapes.demo import uncertainty
from balloon_shapes.structures import Instances


def instances(scores, boxes_at):
    masks = np.zeros((len(scores), 40, 40), bool)
    for m, (x, y) in zip(masks, boxes_at):
        m[y : y + 10, x : x + 10] = True
    return Instances(np.zeros((len(scores), 4)), np.ones(len(scores), int), np.array(scores), masks)


def mirror(inst):
    """What the model would find on the mirrored image if it agreed exactly."""
    return Instances(inst.boxes, inst.labels, inst.scores, inst.masks[:, :, ::-1].copy())


def test_band_counts_middle_scores():
    assert uncertainty.band_score(instances([0.99], [(0, 0)])) == pytest.approx(0.02)
    assert uncertainty.band_score(instances([0.5, 0.45], [(0, 0), (20, 20)])) == pytest.approx(1.9)
    assert uncertainty.band_score(instances([], [])) == 0


def test_flip_disagreement_by_hand():
    easy = instances([0.9], [(3, 4)])
    assert uncertainty.flip_disagreement(easy, mirror(easy)) == pytest.approx(0.0)
    shifted = mirror(instances([0.9], [(8, 4)]))  # 5 px off: IoU 50 / 150
    assert uncertainty.flip_disagreement(easy, shifted) == pytest.approx(2 / 3)
    extra = mirror(instances([0.9, 0.6], [(8, 4), (25, 25)]))  # and one found only mirrored
    assert uncertainty.flip_disagreement(easy, extra) == pytest.approx(1 - 2 * (1 / 3) / 3)
    assert uncertainty.flip_disagreement(instances([], []), instances([], [])) == 0.0
    assert uncertainty.flip_disagreement(easy, instances([], [])) == 1.0


def test_hard_image_ranks_above_easy():
    easy, hard = instances([0.98], [(3, 4)]), instances([0.55, 0.5], [(3, 4), (15, 15)])
    hard_mirror = mirror(instances([0.55], [(9, 4)]))
    scores = {
        "easy.png": uncertainty.flip_disagreement(easy, mirror(easy)),
        "hard.png": uncertainty.flip_disagreement(hard, hard_mirror),
    }
    assert [name for name, _ in uncertainty.ranking(scores)] == ["hard.png", "easy.png"]
    band = {"easy.png": uncertainty.band_score(easy), "hard.png": uncertainty.band_score(hard)}
    assert uncertainty.ranking(band)[0][0] == "hard.png"
    assert uncertainty.random_score("a.png") == uncertainty.random_score("a.png")


def test_annotate_runs_the_model_on_the_mirror_image():
    """A model that agrees with itself under mirroring scores 0 only if it saw the mirror."""
    from balloon_shapes.demo.annotate import uncertainties

    class Thresholding:  # "detects" the bright pixels
        def infer(self, images):
            return [instances_of(im[:, :, 0] > 0) for im in images]

    def instances_of(mask):
        return Instances(np.zeros((1, 4)), np.ones(1, int), np.array([0.9]), mask[None])

    image = np.zeros((20, 30, 3), np.uint8)
    image[5:15, 2:10] = 255  # off-centre: its mirror is elsewhere
    found = Thresholding().infer([image])
    assert uncertainties("flip", Thresholding(), [image], found, ["a.png"]) == [0.0]
