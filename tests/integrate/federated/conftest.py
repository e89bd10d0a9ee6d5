"""An in-process Flower grid for fast tests of the federated frameworks.

Every object is Flower's own (``ClientApp``, ``Message``, ``Context``, strategies); only the
transport is a direct call instead of Ray actors or gRPC, so one test takes seconds. The real
engines run in the slow end-to-end tests (``test_engines.py``).
"""

from __future__ import annotations

import pytest

from tinylarge.integrate.federated.inprocess import LocalGrid


@pytest.fixture
def local_grid():
    return LocalGrid
