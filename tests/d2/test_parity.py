"""Live parity: a Detectron2 Mask R-CNN and the same weights through our converter and
Detectron2 flavour give the same detections on an image that needs resizing."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from tests.d2.conftest import WHY  # noqa: E402

pytest.importorskip("detectron2", reason=WHY)

from detectron2 import model_zoo  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.engine import DefaultPredictor  # noqa: E402

from balloon_shapes.commands.export import edge_distance  # noqa: E402
from balloon_shapes.data import shapes  # noqa: E402
from balloon_shapes.demo.predictor import Predictor  # noqa: E402
from balloon_shapes.modeling import build_model  # noqa: E402

MIN_SIZE, MAX_SIZE = 320, 533  # a 480x640 image is resized to 320x427 by both


TARGETS = {  # module name suffix -> std of its output once calibrated
    "rpn_head.conv": 1.0, "rpn_head.objectness_logits": 2.0, "rpn_head.anchor_deltas": 0.1,
    "box_head.fc1": 1.0, "box_head.fc2": 1.0, "box_predictor.cls_score": 2.0,
    "box_predictor.bbox_pred": 0.1, "mask_head.mask_fcn1": 1.0, "mask_head.mask_fcn2": 1.0,
    "mask_head.mask_fcn3": 1.0, "mask_head.mask_fcn4": 1.0, "mask_head.predictor": 2.0,
}  # fmt: skip


def calibrate(predictor, image_bgr: np.ndarray) -> None:
    """Seeded random weights made decisive: in one forward pass, each head layer's weights are
    scaled so its output has the ``TARGETS`` spread (a random ResNet's features are in the
    hundreds: untouched, every box and score saturates and nothing is detected)."""
    done, handles = set(), []

    def hook(name: str, target: float):
        def rescale(module, inputs, output):
            if name in done:
                return None
            done.add(name)
            f = target / output.float().std().clamp_min(1e-6).item()
            with torch.no_grad():
                module.weight.mul_(f)
                module.bias.mul_(f)
            return output * f

        return rescale

    for name, module in predictor.model.named_modules():
        for suffix, target in TARGETS.items():
            if name.endswith(suffix):
                handles.append(module.register_forward_hook(hook(name, target)))
    predictor(image_bgr)
    for h in handles:
        h.remove()
    assert len(done) == len(TARGETS), done


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


IMAGE = shapes.render(0, 3, shapes.ShapesSpec(height=480, width=640))[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    cfg = get_cfg()
    cfg.merge_from_file(
        model_zoo.get_config_file("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
    )
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    cfg.merge_from_list(["INPUT.MIN_SIZE_TEST", MIN_SIZE, "INPUT.MAX_SIZE_TEST", MAX_SIZE])
    torch.manual_seed(0)
    predictor = DefaultPredictor(cfg)
    calibrate(predictor, np.ascontiguousarray(IMAGE[:, :, ::-1]))
    pkl = tmp_path_factory.mktemp("zoo") / "model_final.pkl"
    state = {k: v.numpy() for k, v in predictor.model.state_dict().items()}
    pkl.write_bytes(pickle.dumps({"model": state, "__author__": "Detectron2 Model Zoo"}))
    return predictor, str(pkl)


def ours(smoke_cfg, pkl: str, *extra: str) -> Predictor:
    cfg = smoke_cfg(
        "model=r50_fpn_d2", f"model.weights={pkl}", "model.num_classes=80",
        f"model.min_size={MIN_SIZE}", f"model.max_size={MAX_SIZE}", *extra,
    )  # fmt: skip
    return Predictor(build_model(cfg.model), ["x"] * 80, score_thresh=0.05, mask_thresh=0.5,
                     device="cpu", amp=False)  # fmt: skip


def test_same_detections_as_detectron2(models, smoke_cfg):
    predictor, pkl = models
    want = predictor(np.ascontiguousarray(IMAGE[:, :, ::-1]))["instances"]
    got = ours(smoke_cfg, pkl)(IMAGE)
    assert 20 <= len(want) == len(got), (len(want), len(got))
    boxes, scores = want.pred_boxes.tensor.numpy(), want.scores.numpy()
    match = box_iou(boxes, got.boxes).argmax(1)  # each of theirs to our nearest box
    assert sorted(match) == list(range(len(got)))  # one to one
    assert np.array_equal(got.labels[match], want.pred_classes.numpy() + 1)
    assert np.abs(got.boxes[match] - boxes).max() <= 0.5
    assert np.abs(got.scores[match] - scores).max() <= 1e-3
    a, b = got.masks[match], want.pred_masks.numpy()
    # boxes within half a pixel move a mask's edge, nothing else: on every CPU
    assert max(edge_distance(theirs, mine) for theirs, mine in zip(b, a)) <= 2
