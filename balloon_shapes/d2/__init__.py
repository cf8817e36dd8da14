"""The Detectron2 side of the plugin: our datasets, evaluators and trainer inside a real
Detectron2.

Optional: importing these modules needs ``detectron2`` (built from source; no registry wheels).
``model.engine=detectron2`` (a real Detectron2 behind our interface) lives in ``modeling``, below
the model loader, and imports it only when asked for.
"""
