"""Deployment: ``scripts/export.py`` writes a model as ONNX or OpenVINO IR, checked first."""
