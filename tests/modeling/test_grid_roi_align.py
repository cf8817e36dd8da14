"""RoIAlign by grid_sample (training's pooler) against torchvision's op and a hand-computed case."""

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

from balloon_shapes.modeling.build import build_model
from balloon_shapes.modeling.grid_roi_align import GridMultiScaleRoIAlign, grid_roi_align

# The grid's normalisation round trip ((2x+1)/W-1 and back, float32) moves a sample by about
# 1e-6 px; times feature slopes of a few units per pixel that is 1e-5 on values of order 1.
ATOL = 1e-4


def messy_rois(k=60, seed=0):
    """Rois on images 0 and 1 of 3 (image 2 has none): some hang off the map, some are
    under a feature pixel wide, some lie wholly beyond it."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 2, (k, 1), generator=g).float()
    corner = torch.rand(k, 2, generator=g) * 90 - 15
    size = torch.rand(k, 2, generator=g) * 40 + 0.05
    return torch.cat([image, corner, corner + size], dim=1)


@pytest.mark.parametrize("sampling_ratio", [1, 2])
@pytest.mark.parametrize("aligned", [False, True])
def test_values_and_gradients_are_torchvisions(sampling_ratio, aligned):
    g = torch.Generator().manual_seed(1)
    feature = torch.randn(3, 4, 9, 13, generator=g, requires_grad=True)
    rois = messy_rois()
    args = (rois, (7, 5), 0.2, sampling_ratio, aligned)
    expected, got = roi_align(feature, *args), grid_roi_align(feature, *args)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    weights = torch.randn(expected.shape, generator=g)
    (grad_expected,) = torch.autograd.grad(expected, feature, weights)
    (grad_got,) = torch.autograd.grad(got, feature, weights)
    torch.testing.assert_close(grad_got, grad_expected, atol=ATOL, rtol=0)


def test_a_hand_computed_case():
    feature = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    rois = torch.tensor(
        [
            [0, 0.0, 0.0, 1.0, 1.0],  # one bin centred at (0.5, 0.5): the mean of the four
            [0, 0.0, 0.0, 2.0, 2.0],  # centred at (1, 1): the last pixel, clamped
            [0, 4.0, 4.0, 6.0, 6.0],  # centred at (5, 5): over a pixel off the map, zero
            [0, -1.3, 0.9, -1.1, 1.1],  # 0.2 px wide, widened to 1: centred at (-0.8, 1.4), clamped
        ]
    )
    out = grid_roi_align(feature, rois, (1, 1), 1.0, 1)
    assert out.flatten().tolist() == pytest.approx([1.5, 3.0, 0.0, 2.0], abs=1e-6)


def test_training_pools_by_grid_and_evaluation_by_torchvision(smoke_cfg):
    model = build_model(smoke_cfg().model)
    pool = model.roi_heads.mask_roi_pool
    assert isinstance(pool, GridMultiScaleRoIAlign)
    reference = MultiScaleRoIAlign(pool.featmap_names, 14, pool.sampling_ratio)
    reference.scales, reference.map_levels = pool.scales, pool.map_levels
    g = torch.Generator().manual_seed(2)
    features = {
        name: torch.randn(2, 8, 256 // s, 256 // s, generator=g)
        for name, s in zip(pool.featmap_names, (4, 8, 16))
    }
    # boxes of 30, 115 and 245 px, so that every level pools some (canonical 224 px)
    boxes = [
        torch.tensor([[1.0, 2, 30, 40], [0, 0, 250, 240]]),
        torch.tensor([[10.0, 9, 130, 120]]),
    ]
    sizes = [(256, 256)] * 2
    assert len(set(pool.map_levels(boxes).tolist())) == 3
    pool.train()
    torch.testing.assert_close(
        pool(features, boxes, sizes), reference(features, boxes, sizes), atol=ATOL, rtol=0
    )
    pool.eval()
    assert torch.equal(pool(features, boxes, sizes), reference(features, boxes, sizes))


def test_it_can_be_switched_off(smoke_cfg):
    model = build_model(smoke_cfg("model.roi.grid_align=false").model)
    assert not isinstance(model.roi_heads.box_roi_pool, GridMultiScaleRoIAlign)


def test_an_adaptive_sampling_ratio_is_refused():
    with pytest.raises(ValueError, match="sampling_ratio"):
        grid_roi_align(torch.zeros(1, 1, 4, 4), torch.zeros(1, 5), (2, 2), 1.0, 0)
