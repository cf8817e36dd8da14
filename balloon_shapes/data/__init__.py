"""Datasets as Detectron2-format dicts, a name catalog, and the dict -> tensors mapper."""
