"""Inference over a dataset and the evaluators: COCO (pycocotools), VOC-style per-image mAP."""
