"""Training and evaluation plumbing on PyTorch Lightning."""
