"""Shared fixtures: a tiny config composed from configs/ with the smoke experiment."""

from __future__ import annotations

import pytest
import torch

from balloon_shapes.config import load_config

torch.set_num_threads(2)


@pytest.fixture
def smoke_cfg(tmp_path):
    """Compose the smoke config (64 px shapes, 2 iterations) writing into ``tmp_path``."""

    def make(*overrides: str):
        return load_config(["+experiment=smoke", f"output_dir={tmp_path}", *overrides])

    return make
