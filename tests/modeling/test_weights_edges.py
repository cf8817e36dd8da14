"""Weights files and names at their edges (cases a mutation test showed no other test noticed)."""

import logging

import numpy as np
import pytest
import torch
from torch import nn

from balloon_shapes.modeling import d2_convert
from balloon_shapes.modeling.weights import (
    ZOO,
    WeightsError,
    load_state,
    load_torch_file,
    load_weights,
    read_checkpoint,
    resolve,
)


def test_only_torch_zips_and_pickles_are_opened(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("epoch 3: loss 0.2")
    with pytest.raises(WeightsError) as err:
        load_torch_file(str(text))
    assert str(err.value) == f"{text}: not a PyTorch checkpoint (neither a torch zip nor a pickle)"
    legacy = tmp_path / "legacy.pth"  # the pre-1.6 format: a plain pickle stream, b"\x80" first
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert legacy.read_bytes()[:1] == b"\x80"
    assert torch.equal(load_torch_file(str(legacy))["w"], torch.ones(2))


@pytest.mark.parametrize(
    "saved",
    [
        {"state_dict": {"model.w": torch.ones(1)}},  # Lightning
        {"model": {"w": torch.ones(1)}},  # Detectron2 / torchvision references
        {"w": torch.ones(1)},  # a bare state dict
    ],
)
def test_state_dict_found_in_each_layout(tmp_path, saved):
    path = tmp_path / "c.pth"
    torch.save(saved, path)
    assert list(read_checkpoint(str(path))) == ["w"]


def test_a_checkpoint_without_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.ones(1)], path)
    with pytest.raises(WeightsError, match="holds no state dict"):
        read_checkpoint(str(path))


def test_resolve_by_extension_and_unknown_names_list_the_zoo(tmp_path):
    assert resolve(str(tmp_path / "m.pkl")) == (str(tmp_path / "m.pkl"), "d2")
    for ext in (".pth", ".pt", ".ckpt"):
        assert resolve(str(tmp_path / f"m{ext}")) == (str(tmp_path / f"m{ext}"), "torch")
    with pytest.raises(WeightsError) as err:
        resolve("detectron2/nope")
    assert str(err.value).endswith(f"({', '.join(sorted(ZOO))})")


@pytest.mark.parametrize("weights", [None, "", "null"])
def test_no_weights_keeps_the_random_init(weights):
    model = nn.Linear(2, 2)
    before = model.weight.clone()
    assert load_weights(model, weights) == [] and torch.equal(model.weight, before)


class Head(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.roi_heads = nn.Module()
        self.roi_heads.box_predictor = nn.Module()
        self.roi_heads.box_predictor.cls_score = nn.Linear(4, k)
        self.body = nn.Linear(4, 4)


def test_mismatch_message_and_class_layer_reset_are_exact(caplog):
    source = Head(3).state_dict()
    with caplog.at_level(logging.WARNING):
        reset = load_state(Head(5), source, "zoo.pkl")
    assert reset == [
        "roi_heads.box_predictor.cls_score.bias",
        "roi_heads.box_predictor.cls_score.weight",
    ]
    assert caplog.messages == [f"zoo.pkl: new classes, re-initialised {', '.join(reset)}"]
    partial = {k: v for k, v in source.items() if not k.startswith("body")}
    partial["extra"] = torch.ones(1)
    with pytest.raises(WeightsError) as err:
        load_state(Head(3), partial, "x.pth")
    assert "(missing: body.weight, body.bias; unexpected: extra)" in str(err.value)
    with pytest.raises(WeightsError) as err:
        load_state(Head(3), {k: v for k, v in source.items() if k != "body.bias"}, "y.pth")
    assert "(missing: body.bias; unexpected: -)" in str(err.value)
    many = {**source, **{f"extra{i}": torch.ones(1) for i in range(10)}}
    with pytest.raises(WeightsError) as err:
        load_state(Head(3), many, "z.pth")
    assert "extra7;" not in str(err.value) and "extra7)" in str(err.value)  # 8 names at most
    assert "missing: -;" in str(err.value)


def test_unplaced_detectron2_keys_do_not_stop_the_conversion():
    fc1 = np.ones((2, 3), np.float32)
    state, unplaced = d2_convert.convert(
        {"pixel_mean": np.zeros(3), "roi_heads.box_head.fc1.weight": fc1}
    )
    assert unplaced == ["pixel_mean"] and len(state) == 1


def test_detectron2_pkl_goes_through_the_converter_and_names_itself(tmp_path):
    import pickle

    path = tmp_path / "zoo.pkl"
    path.write_bytes(pickle.dumps({"model": {"roi_heads.box_head.fc1.weight": np.ones((2, 3))}}))
    with pytest.raises(WeightsError) as err:
        load_weights(nn.Linear(3, 2), str(path))
    assert str(err.value).startswith(f"{path}: does not fit this model (missing: weight, bias; ")


def test_missing_and_unexpected_lists_are_cut_at_eight_and_comma_separated():
    model = nn.Sequential(*[nn.Linear(1, 1, bias=False) for _ in range(10)])
    with pytest.raises(WeightsError) as err:
        load_state(model, {"a": torch.ones(1), "b": torch.ones(1)}, "s")
    text = str(err.value)
    assert (
        "missing: 0.weight, 1.weight, 2.weight, 3.weight, 4.weight, 5.weight, 6.weight, 7.weight;"
        in text
    )
    assert "unexpected: a, b)" in text


def test_named_weights_log_the_layout_they_set(caplog):
    from balloon_shapes.config import load_config
    from balloon_shapes.modeling.weights import with_weights_layout

    cfg = load_config(["model.weights=torchvision/maskrcnn_resnet50_fpn"]).model
    with caplog.at_level(logging.WARNING):
        merged = with_weights_layout(cfg)
    assert merged.backbone == "resnet50"
    (message,) = caplog.messages
    assert message.startswith("torchvision/maskrcnn_resnet50_fpn: model layout set to r50_fpn (")
    assert "backbone, " in message
