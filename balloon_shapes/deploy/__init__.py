"""Deployment: export a trained or zoo model for inference without the training stack."""
