"""Network-aware client selection (TiFL-like tiers): time-adjacent tiers served by credit, fair
counts (within 1 when k divides n), rates by examples with data_weight 1, shorter rounds than
random on a population with a slow tail, deterministic."""

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated import ClientState, random_selection
from tinylarge.integrate.federated.fl import FLConfig
from tinylarge.orchestrate.fl_selection import network_aware, select_tiered, tiers


def _states(times, counts=None, stale=None, energy=None):
    n = len(times)
    counts, stale, energy = counts or [0] * n, stale or [0] * n, energy or [0.0] * n
    return [
        ClientState(i, 100, 10.0, 20.0, float(times[i]), energy[i], stale[i], counts[i])
        for i in range(n)
    ]


def _run(select, times, k, rounds, rng=None):
    """``rounds`` rounds with the server's bookkeeping; the chosen ids and each round's
    expected time (its slowest chosen client's)."""
    n = len(times)
    counts, stale = [0] * n, [0] * n
    history, round_times = [], []
    for _ in range(rounds):
        chosen = select(_states(times, counts, stale), k, rng or np.random.default_rng(0))
        assert len(chosen) == len(set(chosen)) == min(k, n)
        history.append(chosen)
        round_times.append(max(times[c] for c in chosen))
        counts = [c + (i in chosen) for i, c in enumerate(counts)]
        stale = [0 if i in chosen else s + 1 for i, s in enumerate(stale)]
    return history, round_times, counts


def test_tiers_are_time_adjacent_and_the_rounds_cycle_through_them_fast_first():
    times = [5, 1, 9, 2, 7, 3, 8]
    groups = tiers(_states(times), 3)
    assert [[s.client for s in g] for g in groups] == [[1, 3, 5, 0], [4, 6, 2]]
    assert select_tiered(_states([5, 1, 9, 2, 7, 3]), 3) == [1, 3, 5]  # the fast tier
    # that tier has trained once, the slow one not: the slow one is behind its share
    assert select_tiered(_states([5, 1, 9, 2, 7, 3], counts=[0, 1, 0, 1, 0, 1]), 3) == [0, 2, 4]


def test_inside_a_tier_the_least_served_then_stalest_then_least_energy_train():
    # one tier of 5 (k = 3): 1 has trained more; of the rest 2 and 4 are stalest; 0 and 3 are
    # equally stale and 3 has spent less energy
    states = _states(
        [4] * 5, counts=[1, 2, 1, 1, 1], stale=[1, 0, 3, 1, 3], energy=[2.0, 0, 0, 1.0, 0]
    )
    assert select_tiered(states, 3) == [2, 3, 4]


@pytest.mark.parametrize("n,k", [(20, 10), (20, 5), (12, 4), (9, 9), (11, 1)])
def test_with_k_dividing_n_every_count_stays_within_one_of_every_other(n, k):
    rng = np.random.default_rng(n * 100 + k)
    times = list(rng.pareto(1.0, n) + 1.0)  # heavy tail: far clients would never be fastest
    history, _, _ = _run(network_aware(None, data_weight=0.0), times, k, 3 * n)
    counts = np.zeros(n, int)
    for r, chosen in enumerate(history, 1):
        counts[chosen] += 1
        assert counts.max() - counts.min() <= 1, (r, counts)
        assert set(counts) <= {r * k // n, -(-r * k // n)}  # random's expected rate k / n


def test_for_any_population_counts_stay_within_two_and_track_random_rate():
    rng = np.random.default_rng(5)
    for n in range(2, 17):
        for k in range(1, n + 1):
            times = list(rng.pareto(1.0, n) + 1.0)
            history, _, _ = _run(network_aware(None, data_weight=0.0), times, k, 3 * n)
            counts = np.zeros(n, int)
            for r, chosen in enumerate(history, 1):
                counts[chosen] += 1
                assert counts.max() - counts.min() <= 2, (n, k, r, counts)
                assert np.abs(counts - r * k / n).max() <= 1.5, (n, k, r, counts)


def test_data_weight_one_trains_each_tier_in_proportion_to_its_examples():
    # two tiers (k = 3): the fast one holds 1/4 of the examples, so it gets 1/4 of the rounds
    times, examples = [1, 2, 3, 10, 11, 12], [50, 50, 50, 150, 150, 150]
    select = network_aware(None, data_weight=1.0)
    counts, rounds = [0] * 6, 0
    for rounds in range(1, 21):
        states = _states(times, counts)
        for s, m in zip(states, examples, strict=True):
            s.n_examples = m
        chosen = select(states, 3, np.random.default_rng(0))
        assert chosen in ([0, 1, 2], [3, 4, 5])
        counts = [c + (i in chosen) for i, c in enumerate(counts)]
        assert abs(counts[0] - rounds / 4) <= 1 and abs(counts[3] - 3 * rounds / 4) <= 1
    assert counts == [5, 5, 5, 15, 15, 15]


def test_a_data_weight_outside_zero_to_one_is_refused():
    with pytest.raises(TinylargeError, match=r"data_weight must be in \[0, 1\], got 1.5"):
        network_aware(None, data_weight=1.5)


def test_rounds_are_shorter_than_random_on_a_population_with_a_slow_tail():
    rng = np.random.default_rng(3)
    n, k, rounds = 20, 10, 30
    times = list(rng.lognormal(0.0, 1.0, n))
    _, aware, _ = _run(network_aware(None, data_weight=0.0), times, k, rounds)
    rand_means = [
        np.mean(_run(random_selection, times, k, rounds, np.random.default_rng(s))[1])
        for s in range(200)
    ]
    # k divides n: the cycle is the two tiers of time-adjacent clients, whose maxima average to
    # the least mean round time any equal-rate schedule can have
    ordered = sorted(times)
    assert np.mean(aware) == pytest.approx((ordered[k - 1] + ordered[-1]) / 2)
    assert np.mean(aware) < 0.9 * np.mean(rand_means)  # random: E[max of a random half]


def test_the_selection_is_deterministic_and_ignores_the_order_and_the_rng():
    rng = np.random.default_rng(7)
    times = list(rng.uniform(1, 30, 12))
    counts = list(rng.integers(2, 4, 12))
    stale = list(rng.integers(0, 3, 12))
    states = _states(times, counts, stale)
    select = network_aware(FLConfig(n_clients=12, clients_per_round=5))
    first = select(states, 5, np.random.default_rng(0))
    assert select(states, 5, np.random.default_rng(1)) == first
    assert select(states[::-1], 5, np.random.default_rng(2)) == first
    a = _run(select, times, 5, 20, np.random.default_rng(0))[0]
    assert a == _run(select, times, 5, 20, np.random.default_rng(9))[0]


def _weights_per_round(select, times, examples, k, rounds, stepped=True):
    """Each client's FedAvg weight in every round (0 when not chosen), times the rule's outer
    step when ``stepped``: its effective share of the round's update."""
    n = len(times)
    counts, stale, out = [0] * n, [0] * n, []
    for _ in range(rounds):
        states = _states(times, counts, stale)
        for s, m in zip(states, examples, strict=True):
            s.n_examples = m
        chosen = select(states, k, np.random.default_rng(0))
        step = select.server_step(states, chosen) if stepped else 1.0
        total = sum(examples[c] for c in chosen)
        out.append([step * examples[i] / total if i in chosen else 0.0 for i in range(n)])
        counts = [c + (i in chosen) for i, c in enumerate(counts)]
        stale = [0 if i in chosen else s + 1 for i, s in enumerate(stale)]
    return np.array(out)


def test_with_data_weight_one_and_tiers_of_k_the_outer_step_is_one():
    times, examples = [1, 2, 3, 10, 11, 12], [50, 50, 50, 150, 150, 150]
    w = _weights_per_round(network_aware(None, data_weight=1.0), times, examples, 3, 8)
    assert np.allclose(w.sum(axis=1), 1.0)  # FedAvg's own step every round


@pytest.mark.parametrize("data_weight", [0.0, 0.5])
def test_the_outer_step_gives_every_client_its_share_of_examples_on_average(data_weight):
    """Li et al. 2020's unbiased weights: over the schedule each client's mean effective weight
    is n_i / N (the small, fast tier trains more often but moves the model less); FedAvg's
    renormalised weights alone over-weight the small tier."""
    rng = np.random.default_rng(11)
    times = list(rng.uniform(1, 20, 12))
    examples = [int(20 + 10 * t) for t in times]  # compute-bound: slow = data-rich
    share = np.array(examples) / sum(examples)
    select = network_aware(None, data_weight=data_weight)
    stepped = _weights_per_round(select, times, examples, 4, 120).mean(axis=0)
    plain = _weights_per_round(select, times, examples, 4, 120, stepped=False).mean(axis=0)
    assert np.abs(stepped - share).max() < 0.1 * share.max()
    fast = np.argsort(times)[:4]  # the fast tier
    assert plain[fast].sum() > 1.2 * share[fast].sum()  # what the step corrects
