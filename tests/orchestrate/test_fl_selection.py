"""Network-aware client selection: due clients first, a deadline, filling within it, and a
staleness bound that holds over a whole run."""

import numpy as np

from tinylarge.integrate.federated import ClientState
from tinylarge.integrate.federated.fl import FLConfig
from tinylarge.orchestrate.fl_selection import network_aware, select_network_aware


def _states(times, stale=None, energy=None):
    stale = stale or [0] * len(times)
    energy = energy or [0.0] * len(times)
    return [
        ClientState(i, 100, 10.0, 20.0, t, e, s)
        for i, (t, s, e) in enumerate(zip(times, stale, energy, strict=False))
    ]


def test_with_nobody_due_the_fastest_k_train():
    assert select_network_aware(_states([5, 1, 9, 2, 7]), 2, max_staleness=3) == [1, 3]


def test_a_due_client_sets_the_deadline_and_the_stalest_within_it_fill_the_round():
    # client 2 (9 s) is due; 4 (7 s) and 0 (5 s) fit under its deadline, 4 is staler
    states = _states([5, 1, 9, 2, 7], stale=[1, 0, 3, 0, 2])
    assert select_network_aware(states, 2, max_staleness=3) == [2, 4]
    # at equal staleness the one that spent less energy goes first
    states = _states([5, 1, 9, 2, 7], stale=[2, 0, 3, 0, 2], energy=[1.0, 0, 0, 0, 3.0])
    assert select_network_aware(states, 2, max_staleness=3) == [0, 2]


def test_no_client_waits_longer_than_the_bound_over_a_run():
    rng = np.random.default_rng(0)
    times = list(rng.uniform(1, 30, 20))
    config = FLConfig(n_clients=20, clients_per_round=5)
    select = network_aware(config)  # max_staleness = ceil(2 * 20 / 5) = 8
    stale = [0] * 20
    worst = 0
    for _ in range(60):
        chosen = select(_states(times, stale), 5, rng)
        assert len(chosen) == 5 == len(set(chosen))
        stale = [0 if i in chosen else s + 1 for i, s in enumerate(stale)]
        worst = max(worst, *stale)
    assert worst <= 8


def test_the_bound_holds_for_every_feasible_population_and_the_bench_setting():
    # Feasible: k (S + 1) >= n, i.e. k per round can cover n clients in S + 1 rounds. Heavy-tailed
    # times (far clients) are the case the bound exists for: they would never be fastest.
    rng = np.random.default_rng(1)
    draws = rng.integers([4, 1, 1], [30, 12, 6], size=(60, 3))
    cases = [(20, 10, 4)] + [(n, k, s) for n, k, s in draws if k <= n and k * (s + 1) >= n]
    assert len(cases) > 15
    for n, k, s in cases:
        times = list(rng.pareto(1.0, n) + 1.0)
        stale, last_seen = [0] * n, set()
        for _ in range(40):
            chosen = select_network_aware(_states(times, stale), int(k), int(s))
            assert len(chosen) == k
            last_seen |= set(chosen)
            stale = [0 if i in chosen else x + 1 for i, x in enumerate(stale)]
            assert max(stale) <= s, (n, k, s, stale)
        assert last_seen == set(range(n))
