import os
import pickle

import numpy as np
import pytest
import torch

from balloon_shapes.errors import DownloadError
from balloon_shapes.modeling.weights import WeightsError, load_weights, read_pkl, resolve


class CreatesAFile:
    """A pickle payload that, if unpickled naively, runs os.system and creates a file."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pkl_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "model_final.pkl"
    path.write_bytes(pickle.dumps({"model": {"w": CreatesAFile(target)}}))
    with pytest.raises(WeightsError) as err:
        read_pkl(str(path))
    assert (
        "refuses" in str(err.value) and "system" in str(err.value) and str(path) in str(err.value)
    )
    assert not target.exists()
    pickle.loads(path.read_bytes())  # the payload is real: a plain unpickle does create it
    assert target.exists()


def test_malicious_pth_is_refused(tmp_path, smoke_cfg):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": CreatesAFile(target)}, path)
    from balloon_shapes.modeling import build_model

    model = build_model(smoke_cfg().model)
    with pytest.raises(WeightsError, match="not a safe PyTorch checkpoint"):
        load_weights(model, str(path))
    assert not target.exists()


def test_numpy_pkl_loads(tmp_path):
    path = tmp_path / "ok.pkl"
    weights = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float32(2.5)}
    path.write_bytes(
        pickle.dumps({"model": weights, "__author__": "x", "matching_heuristics": True})
    )
    loaded = read_pkl(str(path))
    assert np.array_equal(loaded["a"], weights["a"]) and loaded["b"] == 2.5


def test_named_weights_offline_fail_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("BALLOON_SHAPES_CACHE", str(tmp_path))
    monkeypatch.setenv("BALLOON_SHAPES_OFFLINE", "1")
    with pytest.raises(DownloadError) as err:
        resolve("detectron2/mask_rcnn_R_101_FPN_3x")
    text = str(err.value)
    assert "138205316/model_final_a3ec72.pkl" in text and str(tmp_path) in text and "\n" not in text


def test_unknown_weights_name_lists_the_zoo():
    with pytest.raises(WeightsError, match="torchvision/maskrcnn_resnet50_fpn"):
        resolve("detectron2/mask_rcnn_R_152")


def test_named_weights_bring_their_layout():
    from balloon_shapes.config import load_config
    from balloon_shapes.modeling.weights import with_weights_layout

    cfg = load_config(
        [
            "+experiment=balloon",
            "model.weights=torchvision/maskrcnn_resnet50_fpn_v2",
            "model.backbone=resnet50",
        ]
    ).model
    layout = with_weights_layout(cfg)
    assert (layout.flavour, layout.fpn_norm, layout.roi.head, layout.rpn.conv_depth) == (
        "torchvision",
        "bn",
        "conv4fc",
        2,
    )
    assert layout.num_classes == cfg.num_classes == 1  # the data's classes stay
    assert layout.trainable == cfg.trainable
    d2 = load_config(["+experiment=balloon"]).model
    assert with_weights_layout(d2) == d2  # already the layout its weights need


@pytest.mark.parametrize(
    "module, name",
    [
        ("numpy.testing._private.utils", "runstring"),  # calls exec: numpy.* must not pass
        ("numpy", "load"),
        ("numpy.lib.npyio", "load"),
        ("collections", "defaultdict"),
    ],
)
def test_pickle_allow_list_is_exact_names_not_modules(tmp_path, capsys, module, name):
    path = tmp_path / "model_final.pkl"
    # GLOBAL module.name called with ("print('pwned')", {}): runstring would exec the string
    path.write_bytes(f"c{module}\n{name}\n(S\"print('pwned')\"\n(dtR.".encode())
    with pytest.raises(WeightsError, match=f"refuses to load {module}.{name}"):
        read_pkl(str(path))
    assert "pwned" not in capsys.readouterr().out


def test_python2_model_zoo_pickles_load(tmp_path):
    # Detectron2's zoo files are Python 2 pickles: byte strings need latin1 to become str
    path = tmp_path / "py2.pkl"
    path.write_bytes(b"(dp0\nS'model'\np1\n(dp2\nS'w'\np3\nS'\\xff\\xfe'\np4\nss.")
    assert read_pkl(str(path)) == {"w": "\xff\xfe"}


def test_a_pkl_without_a_model_key_is_the_state_itself(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"w": np.ones(2)}))
    assert np.array_equal(read_pkl(str(path))["w"], np.ones(2))
