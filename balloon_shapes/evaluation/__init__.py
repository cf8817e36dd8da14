"""Inference over a dataset and what it is scored with: COCO AP, the VOC-style per-image mAP,
grayscale robustness, TIDE-style error analysis; evaluate(cfg) and its report."""
