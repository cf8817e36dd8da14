"""Weights that load into our model: ``null`` (random init), a named model-zoo entry, or a local
``.pth``/``.ckpt``/``.pkl`` file.

Nothing is unpickled unchecked: ``torch.load(weights_only=True)`` for PyTorch files and a
restricted unpickler (numpy arrays, dicts, lists, strings, numbers) for Detectron2 ``.pkl``.
Class-specific layers whose shape differs (new classes) are re-initialised and reported.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from balloon_shapes.download import Resource, fetch
from balloon_shapes.errors import WeightsError, first_line
from balloon_shapes.modeling import d2_convert

log = logging.getLogger(__name__)

CLASS_LAYERS = (  # re-initialised when the number of classes differs (head surgery)
    "roi_heads.box_predictor.cls_score.",
    "roi_heads.box_predictor.bbox_pred.",
    "roi_heads.mask_predictor.mask_fcn_logits.",
    "roi_heads.mask_classifier.fc.",  # the class head on mask features (model.mask_head)
)


@dataclass(frozen=True)
class Named:
    """A model-zoo entry: where to get it, its format, and the model config it needs."""

    resource: Resource
    fmt: str  # "d2" (Detectron2 .pkl) or "torch"
    model: str  # the configs/model/<name>.yaml it loads into


D2 = "https://dl.fbaipublicfiles.com/detectron2/COCO-InstanceSegmentation"
TV = "https://download.pytorch.org/models"
# Detectron2 publishes no checksums; an empty sha256 is pinned from the first verified download
# (see balloon_shapes.download). torchvision pins a SHA-256 prefix in each file name.
ZOO: dict[str, Named] = {
    "detectron2/mask_rcnn_R_101_FPN_3x": Named(
        Resource(
            f"{D2}/mask_rcnn_R_101_FPN_3x/138205316/model_final_a3ec72.pkl",
            "d2_mask_rcnn_R_101_FPN_3x_model_final_a3ec72.pkl",
            "",
        ),
        "d2",
        "r101_fpn_d2",
    ),
    "detectron2/mask_rcnn_R_50_FPN_3x": Named(
        Resource(
            f"{D2}/mask_rcnn_R_50_FPN_3x/137849600/model_final_f10217.pkl",
            "d2_mask_rcnn_R_50_FPN_3x_model_final_f10217.pkl",
            "",
        ),
        "d2",
        "r50_fpn_d2",
    ),
    "torchvision/maskrcnn_resnet50_fpn": Named(
        Resource(
            f"{TV}/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
            "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
            "bf2d0c1e",
        ),
        "torch",
        "r50_fpn",
    ),
    "torchvision/maskrcnn_resnet50_fpn_v2": Named(
        Resource(
            f"{TV}/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
            "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
            "73cbd019",
        ),
        "torch",
        "r50_fpn_v2",
    ),
}


class SafeUnpickler(pickle.Unpickler):
    """Admits numpy arrays/dtypes and plain containers; anything else is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refuses to load {module}.{name}")
        return super().find_class(module, name)


def load_pkl_file(path: str) -> dict:
    """A Detectron2 or Caffe2 ``.pkl`` as a dict, through ``SafeUnpickler``: numpy arrays and
    plain containers only; anything else is a one-line ``WeightsError`` and nothing runs."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such weights file")
    try:
        with open(path, "rb") as f:
            obj = SafeUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"{path}: not a safe Detectron2 checkpoint ({e})") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds {type(obj).__name__}, not a checkpoint dict")
    return obj


def read_pkl(path: str) -> dict:
    """A Detectron2 model-zoo ``.pkl``: its ``model`` dict of numpy arrays."""
    obj = load_pkl_file(path)
    return obj.get("model", obj)


def load_torch_file(path: str):
    """``torch.load(weights_only=True)`` of a user's file: tensors and plain containers only.
    Missing, truncated, foreign or unsafe content is a one-line ``WeightsError``."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such weights file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):  # torch zip or pickle
        raise WeightsError(f"{path}: not a PyTorch checkpoint (neither a torch zip nor a pickle)")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol before refusing
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsError(
            f"{path}: not a safe PyTorch checkpoint (it holds objects other than tensors and "
            "plain containers; loading those could run code, so it is refused)"
        ) from None
    except (RuntimeError, EOFError, ValueError) as e:  # a truncated or damaged file
        raise WeightsError(f"{path}: not a safe PyTorch checkpoint ({first_line(e)})") from None


def read_checkpoint(path: str) -> dict[str, torch.Tensor]:
    """The model state dict inside a ``.ckpt`` (Lightning) or ``.pth`` file."""
    return state_dict_of(load_torch_file(path), path)


def state_dict_of(obj, path: str) -> dict[str, torch.Tensor]:
    """The model state dict in a loaded ``.ckpt``/``.pth`` object (``path`` names it)."""
    state = obj.get("state_dict", obj.get("model", obj)) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds no state dict")
    prefix = "model."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def read_d2(path: str) -> dict[str, torch.Tensor]:
    """A Detectron2 ``.pkl`` converted to our keys; unplaced keys are reported."""
    state, unplaced = d2_convert.convert(read_pkl(path))
    if unplaced:
        log.warning("%s: %d keys not placed: %s", path, len(unplaced), ", ".join(unplaced))
    return state


def resolve(weights: str) -> tuple[str, str]:
    """(local path, format) of a weights spec: a zoo name (fetched to the cache) or a path."""
    if weights in ZOO:
        entry = ZOO[weights]
        return fetch(entry.resource), entry.fmt
    path = os.path.expanduser(weights)
    if path.endswith(".pkl"):
        return path, "d2"
    if path.endswith((".pth", ".pt", ".ckpt")) or os.path.isfile(path):
        return path, "torch"
    known = ", ".join(sorted(ZOO))
    raise WeightsError(f"model.weights={weights!r}: no such file or named weights ({known})")


def surgery(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[dict, list[str]]:
    """Drop class layers whose shape differs from the model's (new classes): they stay fresh."""
    own = model.state_dict()
    reset = sorted(
        k
        for k, v in state.items()
        if k.startswith(CLASS_LAYERS) and k in own and own[k].shape != v.shape
    )
    return {k: v for k, v in state.items() if k not in reset}, reset


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Load ``state`` (after head surgery); any other missing or unexpected key is an error."""
    state, reset = surgery(model, state)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape outside the class layers
        detail = str(e).strip().splitlines()[-1].strip()
        raise WeightsError(f"{source}: does not fit this model ({detail})") from None
    missing = [k for k in result.missing_keys if k not in reset]
    if missing or result.unexpected_keys:
        raise WeightsError(
            f"{source}: does not fit this model (missing: {', '.join(missing[:8]) or '-'}; "
            f"unexpected: {', '.join(result.unexpected_keys[:8]) or '-'}); "
            "is model.* the config it was trained with?"
        )
    if reset:
        log.warning("%s: new classes, re-initialised %s", source, ", ".join(reset))
    return reset


ARCH_KEYS = (  # what a zoo entry's layout fixes; data-dependent knobs stay the user's
    "backbone",
    "flavour",
    "norm",
    "returned_layers",
    "fpn_channels",
    "fpn_norm",
    "extra_pool",
    "anchor_sizes",
    "aspect_ratios",
    "image_mean",
    "image_std",
    "rpn.conv_depth",
    "roi.head",
    "roi.head_dim",
    "roi.aspect_channel",
    "roi.pool_size",
    "roi.sampling_ratio",
    "mask_head",
)


def with_weights_layout(cfg: DictConfig) -> DictConfig:
    """The model config with the architecture that named weights need (their model yaml).

    So ``model.weights=torchvision/maskrcnn_resnet50_fpn_v2`` works from any experiment.
    """
    if cfg.weights not in ZOO:
        return cfg
    from balloon_shapes.config import load_config

    layout = load_config([f"model={ZOO[cfg.weights].model}"]).model
    merged = cfg.copy()
    changed = []
    for key in ARCH_KEYS:
        value = OmegaConf.select(layout, key)
        if OmegaConf.select(merged, key) != value:
            OmegaConf.update(merged, key, value, merge=False)
            changed.append(key)
    if changed:
        log.warning(
            "%s: model layout set to %s (%s)",
            cfg.weights,
            ZOO[cfg.weights].model,
            ", ".join(changed),
        )
    return merged


def load_weights(model: nn.Module, weights: str | None) -> list[str]:
    """Load ``weights`` (None = keep random init); returns the class layers that were reset."""
    if weights in (None, "", "null"):
        return []
    path, fmt = resolve(str(weights))
    state = read_d2(path) if fmt == "d2" else read_checkpoint(path)
    return load_state(model, state, str(weights))
