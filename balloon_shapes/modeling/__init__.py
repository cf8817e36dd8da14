"""Mask R-CNN from config (torchvision's, or Detectron2's flavour of it), the weights that load
into it, and inference precision."""

from balloon_shapes.modeling.build import build_model

__all__ = ["build_model"]
