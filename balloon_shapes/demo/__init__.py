"""Demos: the predictor (any image in, instances out), the image demo and the video pipeline."""
