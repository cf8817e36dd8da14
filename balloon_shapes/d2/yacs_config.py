"""Our yacs config keys and a safe way to read Detectron2 configs, shared by
``model.engine=detectron2`` and ``scripts/d2_train_net.py``.

Read with safe YAML only: Detectron2 falls back to ``yaml.unsafe_load``, which runs code.
"""

from __future__ import annotations

import os

from balloon_shapes.errors import ConfigError, first_line


def add_balloon_config(cfg) -> None:
    """Our keys, as Detectron2 projects add theirs (``add_pointrend_config``)."""
    from detectron2.config import CfgNode

    cfg.BALLOON_SHAPES = CfgNode()
    cfg.BALLOON_SHAPES.ZOO_CONFIG = ""  # model-zoo config merged first, e.g. the COCO R101-FPN
    cfg.BALLOON_SHAPES.HEADS_ONLY_ITERS = 0  # train only the heads (backbone frozen) until then
    cfg.BALLOON_SHAPES.DATA_ROOT = ""  # balloon/VIA root; "": data.root of data/balloon.yaml
    cfg.BALLOON_SHAPES.VIA_CLASSES = ()  # (): data.classes of configs/data/balloon.yaml
    cfg.BALLOON_SHAPES.VIA_CLASS_KEY = ""  # "": every region is the first class
    cfg.BALLOON_SHAPES.COCO_JSON = ""  # coco_json: the annotations file ...
    cfg.BALLOON_SHAPES.COCO_IMAGE_ROOT = ""  # ... and the folder its file_names are under
    cfg.BALLOON_SHAPES.SHAPES_HW = ()  # (height, width); (): configs/data/shapes.yaml's
    cfg.BALLOON_SHAPES.SHAPES_VAL_IMAGES = 0  # 0: data.val_size of configs/data/shapes.yaml


def load_cfg(config: str, opts: list | None = None):
    """A yacs file of ours (on top of the model-zoo file it names) or a model-zoo name such as
    ``COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml``, then ``opts`` (KEY VALUE ...).

    Read with safe YAML only (Detectron2 would fall back to ``yaml.unsafe_load``, which runs
    code); a malformed file, an unknown key or a value of the wrong type is one ``ConfigError``.
    """
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_balloon_config(cfg)
    config = yacs_file(config)
    loaded = read_yacs(cfg, config)
    zoo = (loaded.get("BALLOON_SHAPES") or {}).get("ZOO_CONFIG")
    if zoo:
        merge_file(cfg, yacs_file(zoo, zoo_only=True))
    merge_file(cfg, config)  # ours wins over the zoo's
    merge_opts(cfg, list(opts or []))
    return cfg


def yacs_file(config: str, zoo_only: bool = False) -> str:
    """The path of a yacs file given as a path or as a Detectron2 model-zoo name."""
    from detectron2 import model_zoo

    if not zoo_only and os.path.isfile(config):
        return config
    try:
        return model_zoo.get_config_file(config)
    except RuntimeError:
        raise ConfigError(f"{config}: no such yacs file or Detectron2 zoo config") from None


def read_yacs(cfg, path: str) -> dict:
    """A yacs file (with its ``_BASE_``) as a dict, safe YAML only; every key must exist."""
    import yaml

    try:
        loaded = type(cfg).load_yaml_with_base(path, allow_unsafe=False)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not a safe, valid YAML file ({first_line(e)})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: holds {type(loaded).__name__}, not a mapping of keys")
    unknown = unknown_keys(cfg, loaded)
    if unknown:
        raise ConfigError(f"{path}: unknown Detectron2 key(s) {', '.join(unknown)}")
    return loaded


def unknown_keys(node, values: dict, prefix: str = "") -> list[str]:
    """Dotted keys of ``values`` that the config ``node`` does not have."""
    unknown = []
    for key, value in values.items():
        if key == "_BASE_":
            continue
        if not isinstance(node, dict) or key not in node:
            unknown.append(prefix + str(key))
        elif isinstance(value, dict) and isinstance(node[key], dict):
            unknown += unknown_keys(node[key], value, f"{prefix}{key}.")
    return unknown


def merge_file(cfg, path: str) -> None:
    """Merge a checked yacs file; a value of the wrong type names the file."""
    read_yacs(cfg, path)
    try:  # yacs raises ValueError for a type mismatch and nothing else for checked keys
        cfg.merge_from_file(path, allow_unsafe=False)
    except ValueError as e:
        raise ConfigError(f"{path}: {first_line(e)}") from None


def merge_opts(cfg, opts: list) -> None:
    """Command-line ``KEY VALUE`` pairs: every key must exist, every value fit its type."""
    if len(opts) % 2:
        raise ConfigError(f"KEY VALUE pairs expected, got an odd list: {' '.join(map(str, opts))}")
    for key in opts[::2]:
        node = cfg
        for part in str(key).split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{key}: no such Detectron2 config key")
            node = node[part]
    try:
        cfg.merge_from_list(opts)
    except ValueError as e:
        raise ConfigError(f"command line: {first_line(e)}") from None
