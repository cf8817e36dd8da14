"""Detectron2's checkpointer with our restricted loading: every weights file Detectron2 is handed
(``DefaultPredictor``, ``DefaultTrainer``, ``train_net --eval-only``) is read by
``modeling.weights``, never by ``pickle.load``, so nothing in a ``.pkl`` or ``.pth`` runs.

Imports Detectron2: only ``model.engine=detectron2`` and the rest of ``d2`` import this.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs

from detectron2.checkpoint import DetectionCheckpointer

from balloon_shapes.errors import WeightsError
from balloon_shapes.modeling.weights import load_pkl_file, load_torch_file


class SafeCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` whose files are read by the project's restricted loaders; the
    formats it accepts are Detectron2's (zoo/Caffe2 ``.pkl``, torch ``.pth``), and a missing,
    damaged or unsafe file is a one-line ``WeightsError``."""

    def load(self, path: str, *args, **kwargs):
        local = path and "://" not in path
        if local and not os.path.isfile(os.path.expanduser(path)):
            raise WeightsError(f"{path}: no such weights file")
        return super().load(os.path.expanduser(path) if local else path, *args, **kwargs)

    def _load_file(self, filename: str) -> dict:
        if filename.endswith(".pkl"):
            return pkl_checkpoint(load_pkl_file(filename))
        loaded = load_torch_file(filename)
        if not isinstance(loaded, dict):
            raise WeightsError(f"{filename}: holds {type(loaded).__name__}, not a checkpoint dict")
        loaded = loaded if "model" in loaded else {"model": loaded}
        url = self._parsed_url_during_load  # Detectron2's "?matching_heuristics=True" suffix
        if url is not None and parse_qs(url.query).get("matching_heuristics") == ["True"]:
            loaded["matching_heuristics"] = True
        return loaded


def pkl_checkpoint(data: dict) -> dict:
    """A ``.pkl``'s dict in the form Detectron2's loader expects: its own zoo files as they are;
    Caffe2/Detectron1 blobs (momentum buffers dropped) matched by name heuristics."""
    if "model" in data and "__author__" in data:
        return data
    blobs = data.get("blobs", data)
    model = {k: v for k, v in blobs.items() if not str(k).endswith("_momentum")}
    return {"model": model, "__author__": "Caffe2", "matching_heuristics": True}
