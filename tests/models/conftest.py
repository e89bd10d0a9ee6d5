"""Tiny models run fastest single-threaded (OpenMP barriers dominate on a shared 2-core box)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
