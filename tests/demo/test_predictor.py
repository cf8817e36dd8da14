"""Predictor: NHWC on a CPU without changing the detections; any image layout in."""

import copy

import numpy as np
import torch

from balloon_shapes.data.mapper import to_tensor
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.modeling import build_model


def random_model_and_reference(cfg, seed: int):
    """A random-weight model, an untouched copy's raw output on a random image, the image."""
    torch.manual_seed(seed)
    model = build_model(cfg.model).eval()
    image = np.random.default_rng(seed).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    with torch.no_grad():
        want = copy.deepcopy(model)([to_tensor(image)])[0]
    return model, want, image


def test_cpu_predictor_runs_nhwc_with_the_same_detections(smoke_cfg):
    model, want, image = random_model_and_reference(smoke_cfg("model.channels_last=false"), 0)
    predictor = Predictor(
        model, ["a", "b", "c", "d"], score_thresh=0.0, mask_thresh=0.5, device="cpu", amp=False
    )
    conv = next(m for m in predictor.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    got = predictor(image)
    assert len(got) == len(want["scores"]) > 0  # random heads still score many boxes
    np.testing.assert_allclose(got.boxes, want["boxes"].numpy(), atol=1e-3)
    np.testing.assert_allclose(got.scores, want["scores"].numpy(), atol=1e-4)
    masks = (want["masks"][:, 0] > 0.5).numpy()
    assert (got.masks != masks).mean() < 1e-3
    gray = predictor(image.mean(2).astype(np.uint8))  # [H,W] works too
    assert gray.masks.shape[1:] == (64, 80)


def test_threshold_moves_into_the_model_without_changing_instances(smoke_cfg):
    model, want, image = random_model_and_reference(smoke_cfg("model.roi.score_thresh=0.05"), 1)
    thresh = float(want["scores"].median())  # half survive; one scores exactly the threshold
    predictor = Predictor(
        model, ["a", "b", "c", "d"], score_thresh=thresh, mask_thresh=0.5, device="cpu", amp=False
    )
    assert thresh - 1e-7 < predictor.model.roi_heads.score_thresh < thresh
    got = predictor(image)
    keep = (want["scores"] >= thresh).numpy()
    assert 0 < len(got) == keep.sum() < len(keep)
    np.testing.assert_allclose(got.scores, want["scores"].numpy()[keep], atol=1e-4)
    np.testing.assert_allclose(got.boxes, want["boxes"].numpy()[keep], atol=1e-3)


def test_batch_matches_single_images_and_bf16_runs(smoke_cfg):
    model, _, image = random_model_and_reference(smoke_cfg(), 2)
    predictor = Predictor(
        model, ["a", "b", "c", "d"], score_thresh=0.0, mask_thresh=0.5, device="cpu", amp=False
    )
    other = np.ascontiguousarray(image[::-1])
    batched = predictor.batch([image, other])  # the GPU path: one forward pass for both
    for got, single in zip(batched, (predictor(image), predictor(other))):
        assert len(got) == len(single) > 0
        np.testing.assert_allclose(got.boxes, single.boxes, atol=1e-2)
    predictor.dtype = torch.bfloat16  # bf16 autocast on a CPU: numpy float32 out, masks bool
    out = predictor(image)
    assert out.boxes.dtype == out.scores.dtype == np.float32 and out.masks.dtype == bool
