import json

import pytest

from balloon_shapes.config import load_config
from balloon_shapes.data import catalog
from balloon_shapes.errors import ConfigError


def test_builtin_shapes_are_registered_with_metadata():
    assert {"shapes_train", "shapes_val"} <= set(catalog.names())
    meta = catalog.metadata("shapes_val")
    assert meta["thing_classes"] == ["square", "circle", "triangle", "ellipse"]


def test_get_passes_loader_arguments():
    val = catalog.get("shapes_val", size=7, spec={"height": 32, "width": 48})
    assert len(val) == 7
    assert val[0]["image"].shape == (32, 48, 3)
    assert (val[0]["height"], val[0]["width"]) == (32, 48)


def test_train_stream_never_repeats_val_images():
    train, val = catalog.get("shapes_train", seed=0), catalog.get("shapes_val", seed=0)
    assert len(train) > 10**9
    assert not (train[0]["image"] == val[0]["image"]).all()


def test_register_get_and_remove():
    records = [{"file_name": "a.png", "height": 1, "width": 1, "image_id": 0, "annotations": []}]
    catalog.register("tiny_test", lambda: records, {"thing_classes": ["thing"]})
    try:
        assert catalog.get("tiny_test") is records
        assert catalog.metadata("tiny_test")["thing_classes"] == ["thing"]
        with pytest.raises(ValueError, match="already registered"):
            catalog.register("tiny_test", lambda: records)
    finally:
        catalog.remove("tiny_test")
    assert "tiny_test" not in catalog.names()


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError) as err:
        catalog.get("shapes_vall")
    assert "shapes_vall" in str(err.value) and "shapes_val" in str(err.value)
    assert "\n" not in str(err.value)


def test_class_names_come_from_config_metadata_or_the_json(tmp_path):
    gt = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 9, "name": "kite"}, {"id": 2, "name": "cat"}],
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    coco_json = load_config(["data=coco_json", f"data.json_file={tmp_path}/gt.json"]).data
    assert catalog.class_names(coco_json) == ["cat", "kite"]  # json id order
    assert catalog.class_names(load_config(["+experiment=balloon"]).data) == ["balloon"]
    via = load_config(["+experiment=my_via", "data.root=x", "data.classes=[a,b]"]).data
    assert catalog.class_names(via) == ["a", "b"]
    catalog.register("nameless_test", lambda: [])
    try:
        with pytest.raises(ConfigError, match="'nameless_test': names no classes"):
            catalog.class_names(load_config(["data.val=nameless_test"]).data)
    finally:
        catalog.remove("nameless_test")


def _objects_per_image(records, n=60):
    return [len(r["annotations"]) for r in records[:n]]


def test_train_only_shapes_change_the_train_stream_and_never_the_val_set():
    default = load_config(["+experiment=shapes"]).data
    more = load_config(["+experiment=shapes", "data.train_shapes.min_shapes=5"]).data
    train = catalog.get(default.train, **default.train_args)
    val = catalog.get(default.val, **default.val_args)
    assert (train.spec.min_shapes, train.spec.max_shapes) == (3, 8)  # make train's recipe
    assert (val.spec.min_shapes, val.spec.max_shapes) == (1, 4)
    counts = _objects_per_image(train)
    assert max(counts) == 8 and sum(counts) / len(counts) > 4.0  # 1-4 averages about 2.4
    assert max(_objects_per_image(val)) <= 4
    val_more = catalog.get(more.val, **more.val_args)
    assert all((a["image"] == b["image"]).all() for a, b in zip(val[:20], val_more[:20]))
    assert min(_objects_per_image(catalog.get(more.train, **more.train_args))) >= 4


def test_the_train_stream_defaults_to_the_configs_train_shapes():
    """Detectron2's trainer passes only a spec: it trains on make train's recipe too."""
    train = catalog.get("shapes_train", spec={"height": 64, "width": 64})
    assert (train.spec.height, train.spec.min_shapes, train.spec.max_shapes) == (64, 3, 8)
    assert catalog.get("shapes_train", changes={}).spec.max_shapes == 4


def test_an_unknown_shapes_field_is_a_config_error_naming_it():
    cfg = load_config(["+experiment=shapes", "+data.train_shapes.max_shape=9"]).data
    with pytest.raises(ConfigError, match=r"no field 'max_shape'; known: .*max_shapes"):
        catalog.get(cfg.train, **cfg.train_args)


def test_min_shapes_above_max_shapes_is_a_config_error():
    cfg = load_config(["+experiment=shapes", "data.train_shapes.min_shapes=9"]).data
    with pytest.raises(ConfigError, match="shapes per image 9-8 .*min_shapes <= max_shapes"):
        catalog.get(cfg.train, **cfg.train_args)


@pytest.mark.parametrize("chance", ["1.5", "-0.1"])
def test_an_edge_cut_chance_outside_0_1_is_a_config_error(chance):
    cfg = load_config(["+experiment=shapes", f"+data.train_shapes.edge_cut={chance}"]).data
    with pytest.raises(ConfigError, match=rf"edge_cut={chance}: expected a chance in \[0, 1\]"):
        catalog.get(cfg.train, **cfg.train_args)


def test_the_video_recipe_trains_on_edge_cut_shapes_and_keeps_the_val_set():
    video, still = (load_config([f"+experiment={e}"]).data for e in ("shapes_video", "shapes"))
    assert catalog.get(video.train, **video.train_args).spec.edge_cut == 0.25
    assert catalog.get(still.train, **still.train_args).spec.edge_cut == 0.0
    val_video, val_still = (catalog.get(d.val, **d.val_args) for d in (video, still))
    assert all((val_video[k]["image"] == val_still[k]["image"]).all() for k in range(5))
