"""Mask R-CNN from config (torchvision's, or Detectron2's flavour of it), the weights that load
into it, inference precision, and exported models behind the same interface."""

from balloon_shapes.modeling.build import build_model

__all__ = ["build_model"]
