"""RNGState: the random streams a resumed run continues with are the ones it was saved with."""

import random

import numpy as np
import torch

from balloon_shapes.engine.callbacks import RNGState


def draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_rng_state_is_restored_at_the_first_resumed_batch_not_before():
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    saved = RNGState().state_dict()
    torch.save(saved, "/dev/null")  # tensors and tuples only: a weights_only checkpoint takes it
    expected = draws()
    callback = RNGState()
    callback.load_state_dict(saved)
    draws()  # what Lightning draws while it sets up must not count
    assert callback.pending is not None
    callback.on_train_batch_start(None, None, None, 0)
    assert draws() == expected
    callback.on_train_batch_start(None, None, None, 1)  # only once: later batches go on
    assert draws() != expected


def test_rng_state_survives_a_weights_only_round_trip(tmp_path):
    np.random.seed(7)
    path = tmp_path / "s.pt"
    torch.save(RNGState().state_dict(), path)
    expected = np.random.rand(4)
    callback = RNGState()
    callback.load_state_dict(torch.load(path, weights_only=True))
    np.random.rand(9)
    callback.on_train_batch_start(None, None, None, 0)
    assert np.array_equal(np.random.rand(4), expected)


def test_a_fresh_run_leaves_the_random_streams_alone():
    callback = RNGState()
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    callback.on_train_batch_start(None, None, None, 0)
    assert torch.equal(torch.rand(2), expected)
