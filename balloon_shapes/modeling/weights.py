"""Weights that load into our model: ``null`` (random init) or a checkpoint of our own trainer.

Named model-zoo weights (torchvision, Detectron2) plug in at ``load_weights``; see issue 3.
Loading never unpickles arbitrary objects: ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import pickle

import torch
from torch import nn


class WeightsError(ValueError):
    """A weights spec that cannot be loaded: missing file, unsafe pickle, wrong keys."""


def read_checkpoint(path: str) -> dict[str, torch.Tensor]:
    """The model state dict inside a ``.ckpt`` (Lightning) or ``.pth`` file written by us."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such weights file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"{path}: not a safe PyTorch checkpoint ({first})") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds no state dict")
    prefix = "model."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def load_weights(model: nn.Module, weights: str | None) -> None:
    """Load ``weights`` (None = keep random init) into ``model``; shapes and keys must match."""
    if weights in (None, "", "null"):
        return
    state = read_checkpoint(os.path.expanduser(str(weights)))
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape
        detail = str(e).strip().splitlines()[-1].strip()
        raise WeightsError(f"{weights}: does not fit this model ({detail})") from None
    if result.missing_keys or result.unexpected_keys:
        missing = ", ".join(result.missing_keys[:5])
        unexpected = ", ".join(result.unexpected_keys[:5])
        raise WeightsError(
            f"{weights}: does not fit this model (missing: {missing or '-'}; "
            f"unexpected: {unexpected or '-'}); is model.* the config it was trained with?"
        )
