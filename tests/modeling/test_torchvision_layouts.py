"""Our builder reproduces torchvision's COCO model layouts key for key, so their weights load."""

import pytest
import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn, maskrcnn_resnet50_fpn_v2

from balloon_shapes.modeling import build_model
from balloon_shapes.modeling.weights import load_state


@pytest.mark.parametrize(
    "model_cfg, reference",
    [
        ("r50_fpn", maskrcnn_resnet50_fpn),
        ("r50_fpn_v2", maskrcnn_resnet50_fpn_v2),
    ],
)
def test_layout_matches_torchvision(smoke_cfg, model_cfg, reference):
    ours = build_model(smoke_cfg(f"model={model_cfg}", "model.num_classes=90").model)
    theirs = reference(weights=None, weights_backbone=None, num_classes=91)
    mine, ref = ours.state_dict(), theirs.state_dict()
    if model_cfg == "r50_fpn":  # COCO v1 weights were trained with frozen BN: no batch counters
        ref = {k: v for k, v in ref.items() if not k.endswith("num_batches_tracked")}
    assert {k: tuple(v.shape) for k, v in mine.items()} == {
        k: tuple(v.shape) for k, v in ref.items()
    }
    torch.manual_seed(0)
    load_state(ours, ref, "torchvision")  # loads with no missing or unexpected key
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in ref.items())
