"""Exported models: ``graph`` writes one (ONNX, OpenVINO IR, INT8), ``runtime`` runs one with
numpy only, ``exported`` puts one behind torchvision's interface. The export command itself is
``commands.export``.

Imports nothing: ``deploy.runtime`` must load on a machine without torch."""
