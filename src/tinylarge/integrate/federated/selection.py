"""Client selection: a small protocol the server calls each round, and the random baseline.

The server keeps a :class:`ClientState` per client (what a 6G base station and an FL server know:
the client's large-scale channel, its expected round time, the energy it has spent, how many
rounds since it last trained); a :data:`Selector` maps the states and a count to the chosen ids.
Network-aware policies live in :mod:`tinylarge.orchestrate` (a higher layer) and are plugged in by
reference (``config.selection = "package.module:factory"``, ``factory(config) -> Selector``), so
the same reference works in the simulation and in the deployment engine's ServerApp process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import numpy as np

from tinylarge.errors import TinylargeError


@dataclass
class ClientState:
    """What the server knows about one training client before a round."""

    client: int
    n_examples: int
    ul_snr_db: float  # large-scale (mean) uplink SNR
    dl_snr_db: float
    expected_time_s: float  # download + local compute + upload at the mean SNR, alone in the cell
    energy_spent_j: float = 0.0
    rounds_since_selected: int = 0  # staleness; counts from the run's start
    times_selected: int = 0


Selector = Callable[[Sequence[ClientState], int, np.random.Generator], list[int]]
"""A selector may also carry ``server_step(states, chosen) -> float``: the outer step the server
takes towards the round's FedAvg average (``w + step * (mean - w)``), for a rule whose sampling
would otherwise bias the aggregate (:func:`server_step`); without one the step is 1 (FedAvg)."""


def server_step(selector: Selector, states: Sequence[ClientState], chosen: list[int]) -> float:
    """The outer step ``selector`` asks for after choosing ``chosen`` (1: plain FedAvg)."""
    step = getattr(selector, "server_step", None)
    return 1.0 if step is None else float(step(states, chosen))


def random_selection(states: Sequence[ClientState], k: int, rng: np.random.Generator) -> list[int]:
    """``k`` clients uniformly at random without replacement (FedAvg's sampling)."""
    chosen = rng.choice(len(states), size=min(k, len(states)), replace=False)
    return sorted(states[i].client for i in chosen)


def load_selector(ref: str, config: Any) -> Selector:
    """``"random"`` or the selector a ``"module:factory"`` reference builds for ``config``."""
    if ref == "random":
        return random_selection
    module, _, attr = ref.partition(":")
    try:
        factory = getattr(import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise TinylargeError(f"cannot load selection {ref!r}: {exc}") from None
    return factory(config, **getattr(config, "selection_params", {}))
