"""The runtime's numpy mask paste is torchvision's paste_masks_in_image, ported."""

import numpy as np
import torch
from torchvision.models.detection.transform import paste_masks_in_image

from balloon_shapes.runtime import paste_masks, resize_bilinear


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
