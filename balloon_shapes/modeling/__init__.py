"""Mask R-CNN from config (torchvision engine) and the weights that load into it."""

from balloon_shapes.modeling.build import build_model

__all__ = ["build_model"]
