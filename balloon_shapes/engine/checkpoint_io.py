"""Checkpoints written so that a kill at any moment leaves the previous one loadable.

Lightning's own save goes through an fsspec transaction that writes into ``$TMPDIR`` and, when
that is another filesystem (a tmpfs, say), *copies* into place: a kill during the copy leaves
``last.ckpt`` empty. Here the bytes go to a temp file beside the target, are fsynced, and
replace it in one ``os.replace``, whatever ``TMPDIR`` is. A full disk is one line naming the file.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from balloon_shapes.files import atomic_write, fsync_file


class _Recording:
    """A file whose first failed ``write`` is kept: torch's zip writer hides it behind a
    RuntimeError of its own ("unexpected pos") raised while closing the archive."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self) -> None:
        self.f.flush()


def save_reporting_write_errors(obj: Any, f: BinaryIO) -> None:
    """``torch.save`` into ``f``; a failed write (a full disk: ENOSPC) surfaces as that OSError,
    which ``atomic_write`` names as the user's one-line ``OutputError``."""
    recording = _Recording(f)
    try:
        torch.save(obj, recording)
    except RuntimeError:
        if recording.error is None:
            raise
        raise recording.error from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with a same-folder temp file, fsync and rename."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                save_reporting_write_errors(checkpoint, f)
            fsync_file(tmp)

        atomic_write(os.fspath(path), write, suffix=".ckpt")
