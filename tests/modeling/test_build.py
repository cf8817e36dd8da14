import pytest
import torch

from balloon_shapes.modeling.build import build_model, frozen_stages
from balloon_shapes.modeling.weights import WeightsError

LOSSES = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}


def batch(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=g) for _ in range(n)]
    masks = torch.zeros(1, size, size, dtype=torch.uint8)
    masks[0, 10:30, 12:40] = 1
    target = {
        "boxes": torch.tensor([[12.0, 10, 40, 30]]),
        "labels": torch.tensor([2]),
        "masks": masks,
    }
    return images, [target] * n


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["model=r50_fpn", "model.min_size=64", "model.max_size=64"],
        ["model=r50_fpn", "model.backbone=resnet101", "model.min_size=64", "model.max_size=64"],
        ["model.norm=gn"],
        ["model.roi.aspect_channel=true"],
        ["model.roi.aspect_channel=true", "model.roi.head=conv4fc"],
        ["model.roi.pool_size=14"],
        ["model.roi.pool_size=14", "model.roi.head=conv4fc"],
    ],
    ids=(
        "resnet18-slim resnet50-fpn resnet101-fpn resnet18-gn aspect aspect-conv pool14 pool14-conv"
    ).split(),
)
def test_backbones_train_and_predict(smoke_cfg, overrides):
    cfg = smoke_cfg(*overrides)
    model = build_model(cfg.model)
    images, targets = batch()
    model.train()
    losses = model(images, targets)
    assert set(losses) == LOSSES and all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for o in out:
        n = len(o["boxes"])
        assert (
            o["boxes"].shape == (n, 4) and o["scores"].shape == (n,) and o["labels"].shape == (n,)
        )
        assert o["masks"].shape == (n, 1, 64, 64)
        assert n <= cfg.model.roi.detections_per_img
        assert ((o["labels"] >= 1) & (o["labels"] <= cfg.model.num_classes)).all()


def test_heads_freezes_the_backbone_and_all_does_not(smoke_cfg):
    heads = build_model(smoke_cfg("model.trainable=heads").model)
    body = list(heads.backbone.body.parameters())
    assert body and not any(p.requires_grad for p in body)
    assert all(p.requires_grad for p in heads.backbone.fpn.parameters())
    assert all(p.requires_grad for p in heads.roi_heads.parameters())
    images, targets = batch()
    sum(heads(images, targets).values()).backward()
    assert all(p.grad is None for p in body)

    full = build_model(smoke_cfg("model.trainable=all").model)
    assert all(p.requires_grad for p in full.parameters())


def test_stage_freezing_like_keras_layers_3plus(smoke_cfg):
    model = build_model(smoke_cfg("model.trainable=3+").model)
    body = model.backbone.body
    assert not any(p.requires_grad for p in body.conv1.parameters())
    assert not any(p.requires_grad for p in body.layer1.parameters())
    assert all(p.requires_grad for p in body.layer2.parameters())
    assert frozen_stages("heads") == [1, 2, 3, 4, 5] and frozen_stages("all") == []
    with pytest.raises(ValueError, match="trainable"):
        frozen_stages("7+")


def test_anchor_sizes_must_match_levels(smoke_cfg):
    with pytest.raises(ValueError, match="anchor_sizes"):
        build_model(smoke_cfg("model.anchor_sizes=[16,32]").model)


def test_own_checkpoint_round_trip_and_errors(smoke_cfg, tmp_path):
    cfg = smoke_cfg()
    model = build_model(cfg.model)
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, path)
    loaded = build_model(smoke_cfg(f"model.weights={path}").model)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    with pytest.raises(WeightsError, match="no such weights file"):
        build_model(smoke_cfg(f"model.weights={tmp_path / 'nope.ckpt'}").model)
    torch.save({"state_dict": {"model.something": torch.zeros(1)}}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="does not fit"):
        build_model(smoke_cfg(f"model.weights={tmp_path / 'bad.pth'}").model)


def test_detectron2_engine_without_detectron2_is_a_one_line_config_error(smoke_cfg, monkeypatch):
    import sys

    from balloon_shapes.errors import ConfigError
    from balloon_shapes.model_loader import build_inference_model

    monkeypatch.setitem(sys.modules, "detectron2", None)  # as on a machine without it
    cfg = smoke_cfg("model.engine=detectron2", "model.d2_config=x.yaml").model
    with pytest.raises(ConfigError, match="detectron2 is not installed"):
        build_inference_model(cfg)
    with pytest.raises(ConfigError, match="runs inference only"):
        build_model(cfg)  # training: torchvision's model or scripts/d2_train_net.py
    with pytest.raises(ConfigError, match="model.engine='caffe2'"):
        build_inference_model(smoke_cfg("model.engine=caffe2").model)


def test_the_aspect_channel_holds_each_boxs_log_width_over_height():
    from balloon_shapes.modeling.build import AspectChannel

    class Pool(torch.nn.Module):  # a RoIAlign stand-in: 3 channels of zeros per box
        def forward(self, features, boxes, image_shapes):
            return torch.zeros(sum(len(b) for b in boxes), 3, 7, 7)

    boxes = [torch.tensor([[0.0, 0, 20, 10], [5, 5, 15, 45]]), torch.tensor([[2.0, 2, 0, 0]])]
    out = AspectChannel(Pool())({}, boxes, [(64, 64)] * 2)
    assert out.shape == (3, 4, 7, 7) and not out[:, :3].any()
    # 20x10 -> log 2; 10x40 -> log 1/4; a degenerate box counts as 1x1
    want = torch.tensor([0.6931472, -1.3862944, 0.0])
    assert torch.allclose(out[:, 3], want[:, None, None].expand(3, 7, 7), atol=1e-6)


@pytest.mark.parametrize("eps", [0.1, 1.0])
def test_label_smoothing_is_pytorchs_smoothed_cross_entropy_on_the_sampled_rois(
    smoke_cfg, monkeypatch, eps
):
    """The classifier loss equals F.cross_entropy(label_smoothing=eps) of the very logits and
    sampled labels torchvision's own loss sees (caught by wrapping it)."""
    from torchvision.models.detection import roi_heads

    seen = {}
    plain = roi_heads.fastrcnn_loss

    def spy(class_logits, box_regression, labels, regression_targets):
        seen["logits"], seen["labels"] = class_logits.detach(), torch.cat(labels)
        return plain(class_logits, box_regression, labels, regression_targets)

    monkeypatch.setattr(roi_heads, "fastrcnn_loss", spy)
    torch.manual_seed(0)
    model = build_model(smoke_cfg(f"model.roi.label_smoothing={eps}").model).train()
    with torch.no_grad():  # confident logits: smoothed and plain cross-entropy far apart
        model.roi_heads.box_predictor.cls_score.weight.mul_(20)
    losses = model(*batch())
    want = torch.nn.functional.cross_entropy(seen["logits"], seen["labels"], label_smoothing=eps)
    assert losses["loss_classifier"].item() == pytest.approx(want.item(), rel=1e-5)
    plain_ce = torch.nn.functional.cross_entropy(seen["logits"], seen["labels"])
    assert abs(losses["loss_classifier"].item() - plain_ce.item()) > 0.01 * eps
    model.eval()
    with torch.no_grad():  # inference is untouched: no loss, same output keys
        assert set(model(batch()[0])[0]) == {"boxes", "labels", "scores", "masks"}


@pytest.mark.parametrize("thresh, kept", [(0.5, 1), (0.7, 2)])
def test_nms_thresh_decides_whether_an_overlapping_box_of_the_same_class_survives(
    smoke_cfg, thresh, kept
):
    """Two class-1 boxes of IoU 100/160 = 0.625: per-class NMS at 0.5 drops the weaker, at 0.7
    keeps both (hand-computed; zero regression deltas leave the proposals as they are)."""
    model = build_model(smoke_cfg(f"model.roi.nms_thresh={thresh}").model).eval()
    proposals = [torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 16]])]
    k = smoke_cfg().model.num_classes + 1
    logits = torch.full((2, k), -10.0)
    logits[:, 1] = torch.tensor([10.0, 9.0])
    deltas = torch.zeros(2, 4 * k)
    boxes, scores, labels = model.roi_heads.postprocess_detections(
        logits, deltas, proposals, [(64, 64)]
    )
    assert labels[0].tolist() == [1] * kept
    assert boxes[0][0].tolist() == [0, 0, 10, 10]


@pytest.mark.parametrize("flavour", ["torchvision", "detectron2"])
def test_a_wide_first_image_leaves_the_poolers_scales_right(smoke_cfg, flavour):
    """torchvision infers its RoI poolers' scales from the first batch and keeps them: a first
    image of 33x300 (7x64 in a 32x64 batch at the smoke model's 64 px) set the stride-4 level's
    scale to 1 for good, and a square image seen next was pooled from the wrong places
    (pytorch/vision#3747). Whatever came first, the square image's detections are the same."""
    g = torch.Generator().manual_seed(1)
    square, wide = torch.rand(3, 64, 64, generator=g), torch.rand(3, 33, 300, generator=g)
    cfg = smoke_cfg(f"model.flavour={flavour}").model
    outs = []
    for first in (square, wide):
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        with torch.no_grad():
            model([first])
            outs.append(model([square])[0])
    assert len(outs[0]["scores"]) > 0
    torch.testing.assert_close(outs[1]["scores"], outs[0]["scores"], rtol=0, atol=0)
    torch.testing.assert_close(outs[1]["boxes"], outs[0]["boxes"], rtol=0, atol=0)
