"""Deployment: ``scripts/export.py`` writes a model as ONNX or OpenVINO IR, checked first;
``runtime`` runs such a file without torch, ``exported`` puts it behind torchvision's interface.

Imports nothing: ``deploy.runtime`` must load on a machine without torch."""
