"""One loader: a checkpoint brings its model and data; the command line still wins."""

import pytest
import torch

from balloon_shapes.config import load_config
from balloon_shapes.data import shapes
from balloon_shapes.engine.train import train
from balloon_shapes.errors import WeightsError
from balloon_shapes.model_loader import load_model, resolve_config


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(load_config(["+experiment=smoke", f"output_dir={out}", "data.val_size=5"]))
    return str(out / "checkpoints" / "last.ckpt")


def test_a_checkpoint_brings_its_model_and_data_into_eval_yaml(ckpt):
    cfg = resolve_config(load_config([f"model.weights={ckpt}"], "eval"))  # COCO + R101 by default
    assert cfg.data.val == "shapes_val" and cfg.data.val_size == 5
    assert cfg.model.backbone == "resnet18" and cfg.model.weights == ckpt
    model, names = load_model(load_config([f"model.weights={ckpt}"], "eval"))
    assert names == list(shapes.CLASSES) and isinstance(model, torch.nn.Module)


def test_overrides_win_over_the_checkpoint(ckpt):
    over = [f"model.weights={ckpt}", "data.val_size=3", "model.mask_thresh=0.3"]
    cfg = resolve_config(load_config(over, "eval"))
    assert cfg.data.val_size == 3 and cfg.model.mask_thresh == 0.3
    assert cfg.model.min_size == 64  # the rest is the checkpoint's
    chosen = load_config([f"model.weights={ckpt}", "data=balloon"], "eval")
    assert resolve_config(chosen).data.val == "balloon_val"  # a group chosen by name stays


def test_other_weights_keep_the_config_and_bad_files_are_one_line(tmp_path):
    cfg = load_config(["+experiment=smoke"], "eval")
    assert resolve_config(cfg) is cfg
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="bad.ckpt"):
        load_model(load_config([f"model.weights={tmp_path / 'bad.ckpt'}"], "eval"))


def test_the_video_demo_sets_its_model_keys_over_a_checkpoint_and_the_command_line_wins(ckpt):
    video = [f"model.weights={ckpt}", "input=clip.mp4"]
    assert resolve_config(load_config(video, "video_demo")).model.mask_head.rescore_edge is False
    assert resolve_config(load_config(video, "demo")).model.mask_head.rescore_edge is True
    mine = resolve_config(load_config([*video, "model.mask_head.rescore_edge=true"], "video_demo"))
    assert mine.model.mask_head.rescore_edge is True
    assert mine.model.min_size == 64  # the rest is still the checkpoint's
    plain = resolve_config(load_config(["input=clip.mp4", "model.weights=null"], "video_demo"))
    assert plain.model.mask_head.rescore_edge is False  # any model, not only a checkpoint's
