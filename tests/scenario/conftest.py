"""Fixtures for the scenario tests: the intent mapper (the real foundation model, loaded once per
session; the labelled sets' embeddings come from the artifact cache after the first run)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def intent_mapper():
    from tinylarge.scenario.intent import load_mapper

    return load_mapper()
