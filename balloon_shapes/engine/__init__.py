"""Training on PyTorch Lightning: the module, the resumable data stream, train(cfg), its report."""
