"""The one way to load a model for inference: ``load_model(cfg) -> (model, class_names)``.

One of our checkpoints brings the model and the dataset it was trained with (its stored
config), so ``eval.py model.weights=<run>/checkpoints/best.ckpt`` evaluates on that data and a
demo draws its class names; an override given on the command line still wins. An exported
file (.onnx/.xml) carries its class names; anything else is built from ``cfg`` as it stands.
"""

from __future__ import annotations

import functools
import os

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from balloon_shapes.config import leaves, load_config
from balloon_shapes.d2.engine_model import build_detectron2_model
from balloon_shapes.data.catalog import class_names
from balloon_shapes.deploy.exported import ExportedDetector, is_exported
from balloon_shapes.errors import WeightsError
from balloon_shapes.modeling import build_model
from balloon_shapes.modeling.weights import load_torch_file

GROUPS = ("model", "data")  # what a checkpoint brings


def is_checkpoint(weights) -> bool:
    return isinstance(weights, str) and weights.endswith(".ckpt")


@functools.lru_cache(maxsize=4)
def _stored_config(path: str, mtime_ns: int, size: int) -> DictConfig | None:
    obj = load_torch_file(path)
    stored = obj.get("hyper_parameters", {}).get("cfg") if isinstance(obj, dict) else None
    if not stored:
        return None
    base = load_config([])  # keys added since the checkpoint was written keep their defaults
    OmegaConf.set_struct(base, False)
    merged = OmegaConf.merge(base, {k: v for k, v in stored.items() if k != "data"})
    merged.data = stored["data"]  # datasets differ in keys: the shapes defaults would leak in
    return merged


def checkpoint_config(path: str) -> DictConfig | None:
    """The training config stored in one of our Lightning checkpoints, if any (read and merged
    once per file version: eval and the export resolve, then load); a missing, unreadable or
    unsafe file is a ``WeightsError``."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such weights file")
    stat = os.stat(path)
    stored = _stored_config(path, stat.st_mtime_ns, stat.st_size)
    return None if stored is None else stored.copy()


def overridden_keys(cfg: DictConfig) -> list[str]:
    """The ``model.*``/``data.*`` keys and groups the command line set (``load_config`` keeps
    the overrides in ``cfg._overrides``)."""
    keys = [o.split("=", 1)[0].lstrip("+~") for o in cfg.get("_overrides") or []]
    return [k for k in keys if k.split(".", 1)[0] in GROUPS]


def resolve_config(cfg: DictConfig) -> DictConfig:
    """``cfg`` with the model and data of the checkpoint ``model.weights`` names (if it is one
    of ours), then the config's ``checkpoint_overrides`` (a demo's own model keys), every
    override of ``model.*``/``data.*`` on the command line kept over both."""
    weights, keys, over = cfg.model.weights, overridden_keys(cfg), cfg.get("checkpoint_overrides")
    stored = checkpoint_config(weights) if is_checkpoint(weights) else None
    if stored is None and not over:
        return cfg
    out = cfg.copy()
    with open_dict(out):
        for group in GROUPS if stored is not None else ():
            if group not in keys:  # a group chosen by name (data=coco_json) is the user's
                out[group] = stored[group]
        for key, value in leaves(OmegaConf.to_container(over) if over else {}):
            OmegaConf.update(out, key, value, merge=False)
        for key in keys:
            OmegaConf.update(out, key, OmegaConf.select(cfg, key), merge=False)
        out.model.weights = weights
    return out


def build_inference_model(cfg: DictConfig) -> torch.nn.Module:
    """The model the ``model`` config describes, for inference: an exported file on its
    runtime, a real Detectron2 (``engine=detectron2``), else torchvision's (``build_model``)."""
    if is_exported(cfg.weights):
        return ExportedDetector(cfg.weights)
    if cfg.engine == "detectron2":
        return build_detectron2_model(cfg)
    return build_model(cfg)


def load_model(cfg: DictConfig) -> tuple[torch.nn.Module, list[str]]:
    """The model ``cfg.model.weights`` describes (a checkpoint brings its own config) and the
    class names it predicts."""
    if is_exported(cfg.model.weights):
        model = build_inference_model(cfg.model)
        return model, model.class_names or class_names(cfg.data)
    cfg = resolve_config(cfg)
    return build_inference_model(cfg.model), class_names(cfg.data)
