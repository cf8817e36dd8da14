"""Checkpoints replace their target atomically, whatever TMPDIR is."""

import os

import pytest
import torch

from balloon_shapes.engine.checkpoint_io import AtomicCheckpointIO
from balloon_shapes.errors import OutputError


def test_checkpoints_are_replaced_atomically_whatever_tmpdir(tmp_path, monkeypatch):
    """A kill while last.ckpt is written leaves the previous one loadable, even with TMPDIR on
    another filesystem (Lightning's own save then copies into place)."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    path = tmp_path / "ckpts" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    real_save = torch.save

    def killed_midway(obj, f, *args, **kwargs):
        assert torch.load(path, weights_only=True)["state_dict"]["w"].sum() == 3  # still old
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # the kill

    monkeypatch.setattr(torch, "save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(path, weights_only=True)["state_dict"]["w"].sum() == 3
    assert os.listdir(tmp_path / "elsewhere") == [] and os.listdir(path.parent) == ["last.ckpt"]
    io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    assert torch.load(path, weights_only=True)["state_dict"]["w"].sum() == 0


def test_a_full_disk_is_one_line_naming_the_checkpoint_and_keeps_the_previous(tmp_path, tiny_disk):
    """No space for a new last.ckpt: the user's OutputError (not torch's RuntimeError from its
    own file writer), the previous checkpoint intact, no temp file left."""
    disk = tiny_disk(1024 * 1024)
    path = disk / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    with pytest.raises(OutputError, match=r"last\.ckpt: no space left on device"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(1024 * 1024)}}, path)  # 4 MiB
    assert torch.load(path, weights_only=True)["state_dict"]["w"].sum() == 3
    assert os.listdir(disk) == ["last.ckpt"]
