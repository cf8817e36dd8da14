"""The Detectron2 side of the plugin: our datasets, evaluators and demos inside a real Detectron2.

Optional: importing these modules needs ``detectron2`` (built from source; no registry wheels).
"""
