"""Shared by the pattern tests: scikit-learn's 8x8 digits, one torch thread, one artifact cache
per session (so a teacher several tests distil from is trained once)."""

import dataclasses

import pytest
import torch

from tinylarge.data import load_dataset
from tinylarge.models import ModelSpec
from tinylarge.train import ArtifactCache

TEACHER = ModelSpec(name="resnet2d", width=16, depth=2)
STRONG_TEACHER = ModelSpec(name="resnet2d", width=32, depth=2)
STUDENT = ModelSpec(name="cnn2d", width=8, depth=2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads spin and run ~20x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="session")
def digits_400(digits):
    """The first 400 training digits (test split unchanged): few enough that a teacher helps."""
    return dataclasses.replace(digits, x_train=digits.x_train[:400], y_train=digits.y_train[:400])


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return ArtifactCache(tmp_path_factory.mktemp("pattern-cache"))
