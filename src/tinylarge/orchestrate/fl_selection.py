"""Network-aware client selection for federated rounds (an ``integrate.federated`` selector).

A synchronous round lasts as long as its slowest client, so which clients train together matters
more than who trains alone. After TiFL (Chai et al., HPDC 2020, "TiFL: A Tier-based Federated
Learning System"): clients are ranked by expected round time and cut into ``n // k`` tiers of
time-adjacent clients (sizes within 1, each >= ``k``); every round trains ``k`` clients of one
tier, so slow clients (far from the base station, weak channel, much data) train together in slow
rounds and fast rounds stay fast. TiFL picks tiers by credits; here a tier's credit is its share
of the rounds, and the tier furthest behind its share trains next (ties: the faster):

- ``data_weight = 0``: share = tier size / n, so every client trains at random selection's rate
  ``k / n`` (counts within 1 inside a tier);
- ``data_weight = 1``: share = the tier's examples / all examples, so the data-rich (when
  compute dominates the round time, slow) tiers train more often;
- between: the mix of the two shares. The default, 0, was chosen on validation data by
  ``benchmarks/bench_fl_selection.py`` (with the outer step below, equal rates cut the most time
  at no accuracy loss there; without it they lost ~7 points and 1 was the choice).

Inside the tier: least served first, then stalest (``rounds_since_selected``), then least energy
spent, then fastest; a homogeneous population is thus served round-robin. Channel quality and
compute enter through the expected round time, which the server knows before the round from the
large-scale channel (TR 38.901 path loss and shadowing, no fading) and the device's compute
price (:class:`tinylarge.integrate.federated.ledger.Ledger`). Deterministic: no randomness, no
memory beyond the server's counts. With ``k`` dividing ``n`` and ``data_weight = 0`` the rounds
cycle through the tiers, which minimises the mean expected round time among all schedules giving
every client the same rate (the mean of the tiers' maxima).

Unbiased aggregation: FedAvg renormalises each round's weights over the round's own clients, so a
rule that trains small clients together over-weights them (above). The rule therefore asks the
server for an outer step (:func:`tier_step`): the round's FedAvg average is applied with step
``sum_{i in round} (n_i / N) / pi_i``, ``pi_i`` the client's per-round inclusion probability
under the rule, which makes every client's expected contribution ``n_i / N`` whatever the tiers'
rates (the unbiased weights of Li et al., ICLR 2020, "On the Convergence of FedAvg on Non-IID
Data", sampling scheme II). With ``data_weight = 1`` and tiers of exactly ``k`` the step is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated import ClientState, Selector


def _fastest(s: ClientState) -> tuple:
    return (s.expected_time_s, -s.rounds_since_selected, s.energy_spent_j, s.client)


def tiers(states: Sequence[ClientState], k: int) -> list[list[ClientState]]:
    """``n // k`` tiers of time-adjacent clients (fastest first), sizes within 1, each >= k."""
    ordered = sorted(states, key=_fastest)
    n_tiers = max(1, len(ordered) // max(k, 1))
    bounds = np.linspace(0, len(ordered), n_tiers + 1).round().astype(int)
    return [ordered[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def select_tiered(states: Sequence[ClientState], k: int, data_weight: float = 0.0) -> list[int]:
    """The ``k`` client ids of one round (rules in the module docstring); deterministic and
    independent of the order of ``states``."""
    k = min(k, len(states))
    if k <= 0:
        return []
    groups = tiers(states, k)
    done = sum(s.times_selected for s in states) / k  # rounds so far
    total = sum(s.n_examples for s in states) or 1
    best, best_deficit = groups[0], -np.inf
    for group in groups:
        share = _share(group, len(states), total, data_weight)
        deficit = share * (done + 1) - sum(s.times_selected for s in group) / k
        if deficit > best_deficit + 1e-9:  # ties: the faster tier
            best, best_deficit = group, deficit
    picked = sorted(
        best,
        key=lambda s: (
            s.times_selected,
            -s.rounds_since_selected,
            s.energy_spent_j,
            s.expected_time_s,
            s.client,
        ),
    )
    return sorted(s.client for s in picked[:k])


def _share(group: Sequence[ClientState], n: int, total: int, data_weight: float) -> float:
    """The tier's share of the rounds (module docstring)."""
    examples = sum(s.n_examples for s in group)
    return (1 - data_weight) * len(group) / n + data_weight * examples / total


def tier_step(
    states: Sequence[ClientState], chosen: Sequence[int], k: int, data_weight: float
) -> float:
    """The outer step that keeps FedAvg unbiased under the tiers (module docstring): the sum of
    the chosen clients' ``(n_i / N) / pi_i`` with ``pi_i = share(tier) * k / |tier|``."""
    total = sum(s.n_examples for s in states) or 1
    tier_of = {s.client: g for g in tiers(states, k) for s in g}
    step = 0.0
    for s in states:
        if s.client in chosen:
            group = tier_of[s.client]
            pi = _share(group, len(states), total, data_weight) * min(k, len(group)) / len(group)
            step += s.n_examples / total / pi
    return step


def network_aware(config: Any, data_weight: float = 0.0) -> Selector:
    """The selector for a federated config; ``data_weight`` sets how often each tier trains
    (module docstring; 0: equal client rates, 1: rates by examples); the tiers follow from the
    number of clients and the clients per round."""
    if not 0.0 <= data_weight <= 1.0:
        raise TinylargeError(f"data_weight must be in [0, 1], got {data_weight!r}")

    def select(states: Sequence[ClientState], count: int, rng: np.random.Generator) -> list[int]:
        return select_tiered(states, count, data_weight)

    def server_step(states: Sequence[ClientState], chosen: list[int]) -> float:
        return tier_step(states, chosen, len(chosen), data_weight)

    select.server_step = server_step  # type: ignore[attr-defined]
    return select
