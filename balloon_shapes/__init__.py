"""balloon-shapes: Mask R-CNN instance segmentation as a Detectron2-style plugin on torchvision."""

__version__ = "0.1.0"
