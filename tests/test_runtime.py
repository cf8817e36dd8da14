"""The runtime's numpy pre- and post-processing equal the eager model's: torchvision's
paste_masks_in_image, Detectron2's resize, caffe normalisation and grid_sample paste."""

import warnings

import numpy as np
import torch
from torchvision.models.detection.transform import paste_masks_in_image

from balloon_shapes.deploy.runtime import d2_paste_masks, graph_input, paste_masks, resize_bilinear
from balloon_shapes.modeling import d2_compat


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
    one = paste_masks(masks[:1].numpy(), boxes[:1].numpy(), 210, 310)  # a single detection
    np.testing.assert_allclose(one, ref[:1], atol=1e-5)
    empty = paste_masks(np.zeros((0, 1, 28, 28), np.float32), np.zeros((0, 4)), 5, 7)
    assert empty.shape == (0, 1, 5, 7)


def test_resize_bilinear_equals_torch_interpolate():
    x = torch.rand(30, 20, generator=torch.Generator().manual_seed(1))  # rows and columns differ
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
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the empty box is skipped, not divided by zero
        ours = d2_paste_masks(masks.numpy(), boxes.numpy(), 210, 310)
    assert ours.shape == ref.shape == (60, 1, 210, 310) and ref.sum() > 10000
    assert (ours != ref).mean() < 1e-5  # a probability within float noise of 0.5 may flip


def test_d2_paste_keeps_pixels_at_exactly_half():
    """Detectron2 keeps a pasted probability of exactly 0.5 (``>= 0.5``). A box of 28 px on a
    28x28 mask samples each mask cell at its centre with weight 1: no interpolation."""
    masks = np.full((1, 1, 28, 28), 0.4999, np.float32)
    masks[0, 0, ::3, ::2] = 0.5
    pasted = d2_paste_masks(masks, np.array([[0.0, 0.0, 28.0, 28.0]], np.float32), 30, 30)
    want = np.zeros((30, 30), np.float32)
    want[:28:3, :28:2] = 1.0
    np.testing.assert_array_equal(pasted[0, 0], want)


def test_graph_input_is_detectrons_pil_resize_and_caffe_normalisation():
    """Against PIL and hand-computed sizes, not the runtime's own ``pil_resize``: Detectron2's
    DefaultPredictor resizes the uint8 image with PIL bilinear (ResizeShortestEdge), then
    subtracts its BGR mean and divides by its std."""
    from PIL import Image

    mean, std = [103.53, 116.28, 123.675], [57.375, 57.12, 58.395]
    spec = {"kind": "detectron2", "min_size": 80, "max_size": 120}
    meta = {"preprocess": {**spec, "pixel_mean_bgr": mean, "pixel_std_bgr": std}}
    # (61, 97): short side 80 makes the long 127.2 > 120, so 120 / 127.2 -> 75.5 x 120
    # (64, 99): 80 x 123.75 -> 77.58 x 120, rounded half up to 78 (Detectron2's int(x + 0.5))
    cases = [((3, 61, 97), (75, 120)), ((3, 64, 99), (78, 120)), ((3, 300, 40), (120, 16))]
    for shape, size in cases:
        rng = np.random.default_rng(3)
        u8 = rng.integers(0, 256, (shape[1], shape[2], 3), dtype=np.uint8)
        image = u8.transpose(2, 0, 1).astype(np.float32) / 255
        ours = graph_input(image, meta)
        resized = np.asarray(Image.fromarray(u8).resize(size[::-1], Image.BILINEAR), np.float32)
        bgr = resized[:, :, ::-1]
        want = ((bgr - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1)
        assert ours.shape == (3, *size)
        np.testing.assert_allclose(ours, want, atol=1e-3)
    np.testing.assert_array_equal(graph_input(image, {}), image)


def test_the_graph_gets_float32_whatever_the_image_dtype():
    """ONNX Runtime and OpenVINO refuse a float64 input: a float64 image (numpy's default) is
    converted; pasted masks come back float32 too."""
    spec = {"kind": "detectron2", "min_size": 32, "max_size": 64}
    meta = {"preprocess": {**spec, "pixel_mean_bgr": [1.0, 2.0, 3.0], "pixel_std_bgr": [2.0] * 3}}
    image = np.random.default_rng(0).random((3, 20, 30))  # float64
    for spec in ({}, meta):
        out = graph_input(image, spec)
        assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    masks, boxes = np.full((1, 1, 28, 28), 0.7), np.array([[2.0, 3.0, 20.0, 15.0]])
    assert d2_paste_masks(masks, boxes, 20, 30).dtype == np.float32
    assert paste_masks(masks, boxes, 20, 30).dtype == np.float32
