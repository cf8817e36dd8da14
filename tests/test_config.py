"""The primary configs: each script's defaults live in yaml, and an experiment overrides them."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from balloon_shapes.config import load_config
from balloon_shapes.errors import ConfigError


def test_eval_defaults_to_coco_with_the_zoo_r101():
    cfg = load_config([], "eval")
    assert cfg.data.val == "coco_2017_val"
    assert cfg.model.weights == "detectron2/mask_rcnn_R_101_FPN_3x"
    assert cfg.output_dir == "outputs/coco_eval"


@pytest.mark.parametrize("experiment", ["shapes", "balloon", "smoke"])
def test_an_experiment_picks_the_same_config_for_eval_as_for_training(experiment):
    train = load_config([f"+experiment={experiment}"], "config")
    evaluate = load_config([f"+experiment={experiment}"], "eval")
    assert evaluate == train


def test_training_defaults_to_shapes():
    cfg = load_config([], "config")
    assert (cfg.data.train, cfg.model.weights) == ("shapes_train", None)


def test_video_demo_splashes_by_default_and_the_image_demo_overlays():
    assert load_config(["input=a.mp4"], "video_demo").mode == "splash"
    assert load_config(["input=a.mp4", "mode=overlay"], "video_demo").mode == "overlay"
    assert load_config(["input=a.jpg"], "demo").mode == "overlay"


def test_dataset_defaults_in_code_are_the_yaml_ones():
    from balloon_shapes.data import catalog
    from balloon_shapes.data.shapes import ShapesSpec
    from balloon_shapes.data.via import ViaOptions

    shapes = load_config([]).data
    assert ShapesSpec() == ShapesSpec(**shapes.shapes)
    assert len(catalog.get("shapes_val")) == shapes.val_size
    balloon = load_config(["+experiment=balloon"]).data
    assert ViaOptions() == ViaOptions(list(balloon.classes), balloon.class_key, balloon.json_name)


def test_amp_takes_auto_but_other_switches_do_not():
    assert load_config(["inference.amp=auto"], "eval").inference.amp == "auto"
    assert load_config([], "demo").inference.amp == "auto"
    assert load_config(["inference.amp=false"], "demo").inference.amp is False
    with pytest.raises(ConfigError, match="inference.amp='fast': expected true, false or auto"):
        load_config(["inference.amp=fast"], "eval")
    with pytest.raises(ConfigError, match="resume='auto': expected true or false"):
        load_config(["resume=auto"])


def test_code_defaults_are_the_yaml_defaults():
    """Configs are the single source: a dataclass default is read from yaml or not given."""
    import dataclasses

    from balloon_shapes.config import yaml_node
    from balloon_shapes.demo.video import VideoOptions
    from balloon_shapes.evaluation.inference import InferenceSettings

    demo = yaml_node("demo.yaml")
    keys = ("every_n", "max_frames", "detections_json", "carry")
    assert dataclasses.asdict(VideoOptions()) == {
        "batch_size": yaml_node("base.yaml").inference.batch_size,
        **{k: demo[k] for k in keys},
        "keep_tracks": tuple(demo.keep_tracks),
    }
    assert all(
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for f in dataclasses.fields(InferenceSettings)
    )


@pytest.mark.parametrize(
    "name, override",
    [
        ("video_demo", "every_n=0"),
        ("video_demo", "max_frames=0"),
        ("video_demo", "max_frames=-1"),
        ("video_demo", "max_frames='many'"),
        ("video_demo", "reid.max_distance=1.5"),
        ("video_demo", "reid.bins=0"),
        ("demo", "score_thresh=-0.5"),
        ("export", "calib_size=0"),
        ("config", "train.lr=0"),
        ("config", "train.clip_grad_norm=-1"),
        ("config", "data.augment.hflip=2"),
        ("eval", "model.roi.nms_thresh=1.5"),
        ("eval", "data.limit=0"),
        ("eval", "inference.num_workers=-1"),
        ("demo", "inference.batch_size=0"),
    ],
)
def test_values_out_of_range_fail_at_composition_naming_the_key(name, override):
    with pytest.raises(ConfigError, match=f"^{re.escape(override)}'?: must be"):
        load_config([override, "input=x.mp4"] if "demo" in name else [override], name)


def test_in_range_values_and_nulls_pass():
    cfg = load_config(["input=x.mp4", "max_frames=1", "every_n=3"], "video_demo")
    assert (cfg.max_frames, cfg.every_n) == (1, 3)
    assert load_config(["input=x.mp4", "max_frames=null"], "video_demo").max_frames is None


def test_every_checked_key_exists_in_a_config():
    """A renamed key would silently leave its range unchecked."""
    from balloon_shapes.config import RANGES

    composed = [load_config(["input=x"], "video_demo"), load_config([], "export")]
    composed += [load_config(["input=x"], "annotate")]
    composed += [load_config(["+experiment=balloon"]), load_config([], "eval")]
    missing = [
        k for k in RANGES if all(OmegaConf.select(c, k, default="<no>") == "<no>" for c in composed)
    ]
    assert missing == []


def test_eval_and_the_demos_share_one_inference_group():
    """One set of keys and defaults; only the precision differs, on purpose."""
    ev, demo, annotate = (load_config([], n).inference for n in ("eval", "demo", "annotate"))
    assert ev.amp is False and demo.amp == annotate.amp == "auto"
    assert {k: v for k, v in ev.items() if k != "amp"} == {
        k: v for k, v in demo.items() if k != "amp"
    }
    assert "eval" in load_config([], "eval") and not {"amp", "device", "batch_size"} & set(
        load_config([], "demo")
    )


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [("demo", "amp=false", "inference.amp"), ("eval", "eval.batch_size=2", "inference.batch_size"),
     ("eval", "+eval.device=cpu", "inference.device")],
)  # fmt: skip
def test_a_renamed_key_names_its_new_name(name, old, new):
    with pytest.raises(ConfigError, match=f"renamed to {re.escape(new)}"):
        load_config([old], name)
