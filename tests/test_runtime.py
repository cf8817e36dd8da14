"""The runtime's numpy pre- and post-processing equal the eager model's: torchvision's
paste_masks_in_image, Detectron2's resize, caffe normalisation and grid_sample paste."""

import numpy as np
import torch
from torchvision.models.detection.transform import paste_masks_in_image

from balloon_shapes.modeling import d2_compat
from balloon_shapes.runtime import d2_paste_masks, graph_input, paste_masks, resize_bilinear


def test_paste_masks_equals_torchvision():
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(40, 1, 28, 28, generator=g)
    xy = torch.rand(40, 2, generator=g) * torch.tensor([150.0, 100.0])
    wh = torch.rand(40, 2, generator=g) * 100 + 0.3  # some boxes under a pixel
    boxes = torch.cat([xy, xy + wh], 1)
    boxes[0] = torch.tensor([0.0, 0.0, 309.0, 209.0])  # the whole image, edges touched
    ref = paste_masks_in_image(masks, boxes, (210, 310)).numpy()
    ours = paste_masks(masks.numpy(), boxes.numpy(), 210, 310)
    assert ours.shape == ref.shape == (40, 1, 210, 310)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    empty = paste_masks(np.zeros((0, 1, 28, 28), np.float32), np.zeros((0, 4)), 5, 7)
    assert empty.shape == (0, 1, 5, 7)


def test_resize_bilinear_equals_torch_interpolate():
    x = torch.rand(30, 30, generator=torch.Generator().manual_seed(1))
    for h, w in [(1, 1), (7, 90), (64, 13)]:
        ref = torch.nn.functional.interpolate(x[None, None], size=(h, w), mode="bilinear")[0, 0]
        np.testing.assert_allclose(resize_bilinear(x.numpy(), h, w), ref.numpy(), atol=1e-5)


def test_d2_paste_masks_equals_the_eager_grid_sample_paste():
    g = torch.Generator().manual_seed(2)
    masks = torch.rand(60, 1, 28, 28, generator=g)
    xy = torch.rand(60, 2, generator=g) * torch.tensor([150.0, 100.0]) - 10  # some off the edge
    wh = torch.rand(60, 2, generator=g) * 120 + 0.2  # some under a pixel
    boxes = torch.cat([xy, xy + wh], 1)
    boxes[0] = torch.tensor([0.0, 0.0, 310.0, 210.0])  # the whole image
    boxes[1] = torch.tensor([5.0, 5.0, 5.0, 9.0])  # empty
    ref = d2_compat.d2_paste_masks(masks, boxes, (210, 310)).numpy()
    ours = d2_paste_masks(masks.numpy(), boxes.numpy(), 210, 310)
    assert ours.shape == ref.shape == (60, 1, 210, 310) and ref.sum() > 10000
    assert (ours != ref).mean() < 1e-5  # a probability within float noise of 0.5 may flip


def test_graph_input_is_the_detectron2_transform_resize_and_normalisation():
    transform = d2_compat.D2Transform(80, 120).eval()
    meta = {
        "preprocess": {
            "kind": "detectron2",
            "min_size": 80,
            "max_size": 120,
            "pixel_mean_bgr": list(d2_compat.D2_PIXEL_MEAN_BGR),
            "pixel_std_bgr": list(d2_compat.D2_PIXEL_STD_BGR),
        }
    }
    for shape in [(3, 61, 97), (3, 300, 40)]:
        image = torch.rand(*shape, generator=torch.Generator().manual_seed(3))
        ref, _ = transform.resize(image)
        ours = graph_input(image.numpy(), meta)
        assert ours.shape == tuple(ref.shape)
        np.testing.assert_allclose(ours, ref.numpy(), atol=1e-3)
    np.testing.assert_array_equal(graph_input(image.numpy(), {}), image.numpy())
