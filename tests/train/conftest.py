"""Small real data for training tests: a slice of scikit-learn's 8x8 digits via tinylarge.data."""

import dataclasses

import pytest
import torch

from tinylarge.data import load_dataset


@pytest.fixture(scope="session")
def digits_small():
    """300 training and 200 test digits (1x8x8, 10 classes): trains in about a second."""
    ds = load_dataset("digits", seed=0)
    return dataclasses.replace(
        ds,
        x_train=ds.x_train[:300],
        y_train=ds.y_train[:300],
        x_test=ds.x_test[:200],
        y_test=ds.y_test[:200],
    )


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models train fastest on one thread (OpenMP barriers dominate on a shared 2-core box)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
