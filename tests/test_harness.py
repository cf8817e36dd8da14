"""The suite's own set-up: `make test`'s xdist workers do not fight over the cores."""

import os

import pytest
import torch

from balloon_shapes.deploy.runtime import available_cores


def test_an_xdist_worker_runs_on_cores_of_its_own():
    """Two workers' torch runtimes spinning on the same cores slowed a test 4x (conftest)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        pytest.skip("one process: no worker shares the cores (make test runs xdist workers)")
    cores = available_cores()  # what the exported models' runtimes size their threads by
    assert torch.get_num_threads() == cores  # as many threads as cores, no more
    assert cores <= max(1, os.cpu_count() // workers)
