"""The class head on mask features: its loss on the positive RoIs, its rescoring at inference."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from balloon_shapes.modeling.build import build_model
from balloon_shapes.modeling.mask_class import MaskClassifier, touches_edge
from balloon_shapes.modeling.weights import load_state
from tests.modeling.test_build import batch

PROBS = [0.1, 0.6, 0.2, 0.1]  # what the rigged class head says of every RoI, classes 1-4


def model_with_head(smoke_cfg, weight):
    torch.manual_seed(0)
    over = ("model.mask_head.class_head=true", f"model.mask_head.class_weight={weight}")
    return build_model(smoke_cfg(*over, "model.roi.score_thresh=0.0").model)


def test_loss_is_cross_entropy_of_the_positive_rois_against_their_ground_truth_class(smoke_cfg):
    """Every positive RoI of ``batch()`` matches its one object, of class 2 (index 1 among
    the foreground classes); ``loss_mask_class`` is the plain cross-entropy of the head's
    logits against that."""
    model = model_with_head(smoke_cfg, 0.5).train()
    seen = {}
    model.roi_heads.mask_classifier.register_forward_hook(lambda m, i, o: seen.update(logits=o))
    losses = model(*batch())
    logits = seen["logits"]
    assert len(logits) > 0 and logits.shape[1] == 4
    want = F.cross_entropy(logits, torch.full((len(logits),), 1))
    torch.testing.assert_close(losses["loss_mask_class"], want)
    losses["loss_mask_class"].backward()
    assert model.roi_heads.mask_classifier.fc.weight.grad.abs().sum() > 0


def test_scores_are_the_geometric_blend_of_box_score_and_mask_class_probability(smoke_cfg):
    """score' = score ** (1 - w) * p(label) ** w, with the head rigged to say PROBS of
    every RoI: hand-computed against the same model at w = 0 (scores untouched), and the
    detections re-sorted best first as torchvision returns them."""
    images, _ = batch()
    outs = {}
    for w in (0.0, 0.5):
        model = model_with_head(smoke_cfg, w).eval()
        fc = model.roi_heads.mask_classifier.fc
        with torch.no_grad():
            fc.weight.zero_()
            fc.bias.copy_(torch.log(torch.tensor(PROBS)))
            outs[w] = model(images)
    assert sum(len(o["scores"]) for o in outs[0.0]) > 0
    reordered = False
    for plain, blended in zip(outs[0.0], outs[0.5]):
        want = (plain["scores"] * torch.tensor(PROBS)[plain["labels"] - 1]).sqrt()
        order = want.argsort(descending=True, stable=True)  # rescored, still best first
        reordered |= not torch.equal(order, torch.arange(len(order)))
        for key in ("labels", "boxes", "masks"):
            assert torch.equal(blended[key], plain[key][order]), key
        torch.testing.assert_close(blended["scores"], want[order])
    assert reordered  # the rigged head does change the order somewhere
    with torch.no_grad():
        again = copy.deepcopy(model)(images)  # a copy (as weight averaging makes) works
    torch.testing.assert_close(again[0]["scores"], outs[0.5][0]["scores"])


def test_with_rescore_edge_off_a_box_on_the_images_edge_keeps_its_score(smoke_cfg):
    """The rigged head of the test above at w = 0.5: detections whose box comes within a pixel
    of the 64x64 image's border (the smoke model does not resize) keep the plain model's score,
    the others get the blend."""
    images, _ = batch()
    outs = {}
    for w, edge in ((0.0, "true"), (0.5, "false")):
        torch.manual_seed(0)
        cfg = smoke_cfg(
            "model.mask_head.class_head=true",
            f"model.mask_head.class_weight={w}",
            f"model.mask_head.rescore_edge={edge}",
            "model.roi.score_thresh=0.0",
        )
        model = build_model(cfg.model).eval()
        with torch.no_grad():
            model.roi_heads.mask_classifier.fc.weight.zero_()
            model.roi_heads.mask_classifier.fc.bias.copy_(torch.log(torch.tensor(PROBS)))
            outs[w] = model(images)
    kinds = set()
    for plain, rescored in zip(outs[0.0], outs[0.5]):
        for box, label, score in zip(plain["boxes"], plain["labels"], plain["scores"]):
            edge = bool(box[0] <= 1 or box[1] <= 1 or box[2] >= 63 or box[3] >= 63)
            want = score if edge else (score * PROBS[label - 1]) ** 0.5
            same = (rescored["boxes"] == box).all(1) & (rescored["labels"] == label)
            assert rescored["scores"][same].tolist() == pytest.approx([want.item()])
            kinds.add(edge)
    assert kinds == {True, False}  # both kinds were there


def test_touching_the_edge_means_within_a_pixel_of_any_side():
    inside = [[1.5, 1.5, 62.5, 62.0], [10, 10, 20, 20]]
    near = [[0.5, 10, 20, 20], [10, 1.0, 20, 20], [10, 10, 63.0, 20], [10, 10, 20, 62.5]]
    # in an export the sizes are traced tensors; h and w differ, so a swap shows
    got = touches_edge(torch.tensor(inside + near), (torch.tensor(63.5), torch.tensor(64)))
    assert got.tolist() == [False, False, True, True, True, True]


def test_the_box_aspect_reaches_the_class_head():
    """A circle's and an axis-aligned ellipse's RoIs pool alike; only log(w/h) tells them."""
    head = MaskClassifier(8, 2)
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.zero_()
        head.fc.weight[0, -1] = 1.0
    feats = torch.zeros(2, 8, 14, 14)
    logits = head(feats, torch.tensor([[0.0, 0, 20, 10], [0, 0, 10, 10]]))
    assert logits[:, 0].tolist() == pytest.approx([math.log(2), 0.0])


@pytest.mark.parametrize("grad", [True, False])
def test_class_grad_decides_whether_the_class_loss_reaches_the_mask_head(smoke_cfg, grad):
    torch.manual_seed(0)
    cfg = smoke_cfg("model.mask_head.class_head=true", f"model.mask_head.class_grad={grad}")
    model = build_model(cfg.model).train()
    model(*batch())["loss_mask_class"].backward()
    reached = [
        p.grad is not None and p.grad.abs().sum() > 0
        for p in model.roi_heads.mask_head.parameters()
    ]
    assert all(reached) if grad else not any(reached)
    assert model.roi_heads.mask_classifier.fc.weight.grad.abs().sum() > 0


def test_a_class_head_checkpoint_fine_tunes_to_other_classes(smoke_cfg):
    """make train's checkpoint (4 shapes) into a 1-class VIA model with the head: the head's
    class layer starts fresh like the box and mask predictors', everything else is loaded."""
    shapes = model_with_head(smoke_cfg, 0.5).state_dict()
    torch.manual_seed(1)
    cfg = smoke_cfg("model.mask_head.class_head=true", "model.num_classes=1").model
    model = build_model(cfg)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    reset = load_state(model, shapes, "shapes.ckpt")
    assert "roi_heads.mask_classifier.fc.weight" in reset
    for k, v in model.state_dict().items():
        assert torch.equal(v, fresh[k] if k in reset else shapes[k]), k
