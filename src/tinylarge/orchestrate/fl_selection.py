"""Network-aware client selection for federated rounds (an ``integrate.federated`` selector).

A synchronous round lasts as long as its slowest client, so which clients train together matters
more than who trains alone. After FedCS (Nishio & Yonetani, ICC 2019: pick clients that meet a
round deadline from their channel and compute) with a staleness bound for fairness (as Oort's,
Lai et al., OSDI 2021, "Efficient Federated Learning via Guided Participant Selection"):

1. due clients go first: a client not selected for ``s`` rounds must train within the next
   ``max_staleness - s + 1`` rounds; earliest-deadline-first (Liu & Layland, JACM 1973) takes now
   as many of the most urgent as keeping every later deadline feasible needs;
2. the round's deadline is the slowest due client's expected time, or, with none due, the
   ``k``-th smallest expected time;
3. the rest of the ``k`` places go to clients expected within the deadline, stalest first, then
   least energy spent (they cost the round no time);
4. if places remain, the fastest of the others fill them.

Slow clients (far from the base station, weak channel, much data) thus train together in
occasional slow rounds instead of slowing every round, and nobody waits more than
``max_staleness`` rounds. The expected times come from the large-scale channel (TR 38.901 path
loss and shadowing, no fading) and the device's compute price, as the server knows them before
the round (:class:`tinylarge.integrate.federated.ledger.Ledger`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinylarge.integrate.federated import ClientState, Selector


def select_network_aware(states: Sequence[ClientState], k: int, max_staleness: int) -> list[int]:
    """The ``k`` client ids of one round (rules in the module docstring); deterministic."""
    k = min(k, len(states))
    by_id = {s.client: s for s in states}
    urgent = sorted(states, key=lambda s: (-s.rounds_since_selected, s.expected_time_s, s.client))
    due = urgent[: n_due(states, k, max_staleness)]
    times = sorted(s.expected_time_s for s in states)
    deadline = max(s.expected_time_s for s in due) if due else times[k - 1]
    chosen = [s.client for s in due]
    within = sorted(
        (s for s in states if s.client not in chosen and s.expected_time_s <= deadline),
        key=lambda s: (-s.rounds_since_selected, s.energy_spent_j, s.expected_time_s, s.client),
    )
    chosen += [s.client for s in within[: k - len(chosen)]]
    if len(chosen) < k:
        rest = sorted(
            (s for s in states if s.client not in chosen),
            key=lambda s: (s.expected_time_s, s.client),
        )
        chosen += [s.client for s in rest[: k - len(chosen)]]
    assert all(c in by_id for c in chosen)
    return sorted(chosen)


def n_due(states: Sequence[ClientState], k: int, max_staleness: int) -> int:
    """How many of the most urgent clients must train now so that every client can still be
    selected before its staleness passes ``max_staleness``: ``max_j (#{slack <= j} - k j)`` over
    look-ahead rounds ``j``, where ``slack = max_staleness - rounds_since_selected``."""
    slack = np.sort([max_staleness - s.rounds_since_selected for s in states])
    need = 0
    for j in range(int(slack.max(initial=0)) + 1):
        need = max(need, int(np.searchsorted(slack, j, side="right")) - k * j)
    return int(min(max(need, 0), k))


def network_aware(config: Any, staleness_factor: float = 2.0) -> Selector:
    """The selector for a federated config: ``max_staleness = ceil(staleness_factor * n / k)``
    rounds for ``n`` training clients and ``k`` per round (2: every client at least every
    other "cycle" through the population)."""
    n = len(config.training_clients)
    k = config.n_selected
    max_staleness = max(1, math.ceil(staleness_factor * n / k))

    def select(states: Sequence[ClientState], count: int, rng: np.random.Generator) -> list[int]:
        return select_network_aware(states, count, max_staleness)

    return select
