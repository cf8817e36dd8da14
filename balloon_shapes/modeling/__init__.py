"""Mask R-CNN from config (torchvision's, or Detectron2's flavour of it), the weights that load
into it, inference precision, and what runs behind the same interface: an exported file
(``exported``) or a real Detectron2 (``detectron2_engine``)."""

from balloon_shapes.modeling.build import build_model

__all__ = ["build_model"]
