"""Checkpoints written so that a kill at any moment leaves the previous one loadable.

Lightning's own save goes through an fsspec transaction that writes into ``$TMPDIR`` and, when
that is another filesystem (a tmpfs, say), *copies* into place: a kill during the copy leaves
``last.ckpt`` empty. Here the bytes go to a temp file beside the target, are fsynced, and
replace it in one ``os.replace``, whatever ``TMPDIR`` is.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from balloon_shapes.files import atomic_write, fsync_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with a same-folder temp file, fsync and rename."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        def write(tmp: str) -> None:
            torch.save(checkpoint, tmp)
            fsync_file(tmp)

        atomic_write(os.fspath(path), write, suffix=".ckpt")
