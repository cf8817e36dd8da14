"""Detectron2 flavour and checkpoint conversion, on synthetic model-zoo-shaped weights."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from balloon_shapes.modeling import build_model
from balloon_shapes.modeling.d2_compat import (
    D2_PIXEL_MEAN_BGR,
    D2AnchorGenerator,
    caffe_normalize,
    d2_paste_masks,
)
from balloon_shapes.modeling.d2_convert import convert
from balloon_shapes.modeling.weights import load_state
from balloon_shapes.resize import d2_resized_size

BLOCKS = {"resnet50": [3, 4, 6, 3], "resnet101": [3, 4, 23, 3]}


def d2_state(depth: str, num_classes: int = 80, seed: int = 0) -> dict[str, np.ndarray]:
    """A Detectron2 Mask R-CNN R50/R101-FPN state dict, key names and shapes as in the model zoo."""
    rng = np.random.default_rng(seed)
    state = {}

    def add(name, *shape):
        state[name] = rng.standard_normal(shape).astype(np.float32)

    def conv_norm(prefix, cout, cin, k):
        add(f"{prefix}.weight", cout, cin, k, k)
        for p in ("weight", "bias", "running_mean"):
            add(f"{prefix}.norm.{p}", cout)
        state[f"{prefix}.norm.running_var"] = rng.uniform(0.5, 2, cout).astype(np.float32)

    bu = "backbone.bottom_up"
    conv_norm(f"{bu}.stem.conv1", 64, 3, 7)
    cin = 64
    for stage, n in enumerate(BLOCKS[depth], start=2):
        mid = 64 * 2 ** (stage - 2)
        out = mid * 4
        for b in range(n):
            p = f"{bu}.res{stage}.{b}"
            if b == 0:
                conv_norm(f"{p}.shortcut", out, cin, 1)
            conv_norm(f"{p}.conv1", mid, cin, 1)
            conv_norm(f"{p}.conv2", mid, mid, 3)
            conv_norm(f"{p}.conv3", out, mid, 1)
            cin = out
        add(f"backbone.fpn_lateral{stage}.weight", 256, out, 1, 1)
        add(f"backbone.fpn_lateral{stage}.bias", 256)
        add(f"backbone.fpn_output{stage}.weight", 256, 256, 3, 3)
        add(f"backbone.fpn_output{stage}.bias", 256)
    rpn = "proposal_generator.rpn_head"
    add(f"{rpn}.conv.weight", 256, 256, 3, 3), add(f"{rpn}.conv.bias", 256)
    add(f"{rpn}.objectness_logits.weight", 3, 256, 1, 1), add(f"{rpn}.objectness_logits.bias", 3)
    add(f"{rpn}.anchor_deltas.weight", 12, 256, 1, 1), add(f"{rpn}.anchor_deltas.bias", 12)
    add("roi_heads.box_head.fc1.weight", 1024, 256 * 49), add("roi_heads.box_head.fc1.bias", 1024)
    add("roi_heads.box_head.fc2.weight", 1024, 1024), add("roi_heads.box_head.fc2.bias", 1024)
    add("roi_heads.box_predictor.cls_score.weight", num_classes + 1, 1024)
    add("roi_heads.box_predictor.cls_score.bias", num_classes + 1)
    add("roi_heads.box_predictor.bbox_pred.weight", num_classes * 4, 1024)
    add("roi_heads.box_predictor.bbox_pred.bias", num_classes * 4)
    for i in range(1, 5):
        add(f"roi_heads.mask_head.mask_fcn{i}.weight", 256, 256, 3, 3)
        add(f"roi_heads.mask_head.mask_fcn{i}.bias", 256)
    (
        add("roi_heads.mask_head.deconv.weight", 256, 256, 2, 2),
        add("roi_heads.mask_head.deconv.bias", 256),
    )
    add("roi_heads.mask_head.predictor.weight", num_classes, 256, 1, 1)
    add("roi_heads.mask_head.predictor.bias", num_classes)
    return state


def d2_model(smoke_cfg, depth="resnet101", classes=80, *extra):
    cfg = smoke_cfg(
        "model=r101_fpn_d2",
        f"model.backbone={depth}",
        "model.weights=null",
        f"model.num_classes={classes}",
        "model.min_size=96",
        "model.max_size=160",
        *extra,
    )
    return build_model(cfg.model)


@pytest.mark.parametrize("depth", ["resnet50", "resnet101"])
def test_converted_checkpoint_fills_every_key_with_class_rows_in_place(smoke_cfg, depth):
    src = d2_state(depth)
    state, unplaced = convert({**src, "pixel_mean": np.zeros(3)})
    assert unplaced == ["pixel_mean"]
    model = d2_model(smoke_cfg, depth)
    assert set(state) == set(model.state_dict())  # nothing missing, nothing unexpected
    assert load_state(model, state, "synthetic") == []
    own = model.state_dict()
    cls = torch.from_numpy(src["roi_heads.box_predictor.cls_score.weight"])
    assert torch.equal(own["roi_heads.box_predictor.cls_score.weight"][0], cls[80])  # background
    assert torch.equal(own["roi_heads.box_predictor.cls_score.weight"][1:], cls[:80])
    box = own["roi_heads.box_predictor.bbox_pred.weight"]
    assert box.shape == (81 * 4, 1024) and not box[:4].any()
    assert torch.equal(box[4:], torch.from_numpy(src["roi_heads.box_predictor.bbox_pred.weight"]))
    mask = own["roi_heads.mask_predictor.mask_fcn_logits.weight"]
    assert not mask[0].any() and torch.equal(
        mask[1:], torch.from_numpy(src["roi_heads.mask_head.predictor.weight"])
    )
    stem = (
        torch.from_numpy(src["backbone.bottom_up.res4.22.conv2.norm.running_var"])
        if depth == "resnet101"
        else None
    )
    if stem is not None:
        assert torch.equal(own["backbone.body.layer3.22.bn2.running_var"], stem)


def test_head_surgery_keeps_the_body_and_resets_class_layers(smoke_cfg):
    src_state, _ = convert(d2_state("resnet50"))
    model = d2_model(smoke_cfg, "resnet50", 1)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    reset = load_state(model, src_state, "synthetic")
    class_layers = ("box_predictor.cls_score", "box_predictor.bbox_pred", "mask_fcn_logits")
    assert sorted(reset) == sorted(k for k in fresh if any(c in k for c in class_layers))
    assert len(reset) == 6
    own = model.state_dict()
    for k, v in own.items():
        if k in reset:
            assert torch.equal(v, fresh[k]) and v.shape != src_state[k].shape
        else:
            assert torch.equal(v, src_state[k]), k


def test_missing_keys_are_named_and_refused(smoke_cfg):
    state, _ = convert(d2_state("resnet50"))
    del state["backbone.body.layer2.0.conv1.weight"]
    with pytest.raises(ValueError, match="layer2.0.conv1.weight"):
        load_state(d2_model(smoke_cfg, "resnet50"), state, "partial.pkl")


def test_bgr_fold_equals_a_caffe_normalised_stem(smoke_cfg):
    model = d2_model(smoke_cfg, "resnet50").eval()
    rgb = torch.randint(0, 256, (3, 96, 128), dtype=torch.uint8)
    images, _ = model.transform([rgb.float() / 255])  # 96 = min_size: no resize
    bgr = rgb.flip(0).float()
    expected = bgr - torch.tensor(D2_PIXEL_MEAN_BGR)[:, None, None]
    got = images.tensors[0, :, :96, :128]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    conv1 = model.backbone.body.conv1
    torch.testing.assert_close(conv1(got[None]), conv1(expected[None]), rtol=0, atol=1e-3)
    assert torch.equal(
        caffe_normalize(rgb.float() / 255, torch.zeros(3), torch.ones(3)),
        rgb.flip(0).float().div(255).mul(255),
    )


def test_stride_sits_on_the_1x1_conv(smoke_cfg):
    body = d2_model(smoke_cfg, "resnet50").eval().backbone.body
    block = body.layer2[0]
    assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)
    assert block.downsample[0].stride == (2, 2)
    x = torch.randn(1, 256, 16, 16)
    with torch.no_grad():
        y = F.relu(block.bn1(F.conv2d(x, block.conv1.weight, stride=2)))
        y = F.relu(block.bn2(F.conv2d(y, block.conv2.weight, padding=1)))
        y = block.bn3(F.conv2d(y, block.conv3.weight))
        ref = F.relu(y + block.downsample(x))
        torch.testing.assert_close(block(x), ref)


def test_anchors_unrounded_on_exact_strides():
    gen = D2AnchorGenerator(((32.0,), (64.0,)), ((0.5, 1.0, 2.0),) * 2, [4, 8])
    cell = gen.generate_anchors([32.0], [0.5, 1.0, 2.0])
    w = math.sqrt(32 * 32 / 0.5)
    torch.testing.assert_close(cell[0], torch.tensor([-w / 2, -w / 4, w / 2, w / 4]))
    from torchvision.models.detection.image_list import ImageList

    feats = [torch.zeros(1, 1, 25, 33), torch.zeros(1, 1, 13, 17)]
    anchors = gen(ImageList(torch.zeros(1, 3, 100, 130), [(100, 130)]), feats)[0]
    assert anchors.shape == (3 * (25 * 33 + 13 * 17), 4)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    assert torch.allclose(centres[3 * 34], torch.tensor([4.0, 4.0]))  # cell (1, 1) at stride 4


def test_d2_resize_and_paste():
    assert d2_resized_size(480, 640, 800, 1333) == (800, 1067)
    assert d2_resized_size(100, 1000, 800, 1333) == (133, 1333)
    masks = torch.ones(1, 1, 28, 28)
    pasted = d2_paste_masks(masks, torch.tensor([[10.0, 5.0, 30.5, 20.0]]), (40, 50))
    assert pasted.shape == (1, 1, 40, 50)
    inside = pasted[0, 0].nonzero()
    assert inside[:, 1].min() >= 10 and inside[:, 1].max() <= 30
    assert inside[:, 0].min() >= 5 and inside[:, 0].max() <= 19
    assert pasted[0, 0, 8:17, 13:28].all()
