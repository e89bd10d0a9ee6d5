"""Cascade: calibration on one half holds on the other; energy accounting by hand."""

import numpy as np
import pytest

from tinylarge.integrate.cascade import CascadeConfig, DeviceCost, energy_table, run_cascade
from tinylarge.net import load_link, transfer_energy_j, transfer_latency_s


def synthetic(n=4000, k=10, seed=0):
    """A small model that is right when confident and a big model right 99% of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    sure = rng.random(n)  # how peaked the small model's output is
    small = rng.normal(0, 1, (n, k))
    right = rng.random(n) < 0.5 + 0.5 * sure  # surer -> more often right
    guess = np.where(right, y, (y + 1 + rng.integers(0, k - 1, n)) % k)
    small[np.arange(n), guess] += 1 + 6 * sure
    big = rng.normal(0, 1, (n, k))
    big_guess = np.where(rng.random(n) < 0.99, y, (y + 1) % k)
    big[np.arange(n), big_guess] += 10
    return small, big, y


def test_accuracy_target_is_met_on_held_out_half_with_partial_offload():
    small, big, y = synthetic()
    r = run_cascade(small, big, y, CascadeConfig(max_accuracy_drop=0.01))
    assert r.small_accuracy < r.accuracy
    assert r.accuracy >= r.big_accuracy - 0.02  # held-out: allow sampling slack
    assert 0.0 < r.offload_fraction < 1.0
    assert r.n_calibration + r.n_eval == len(y)


def test_offload_budget_is_respected():
    small, big, y = synthetic()
    r = run_cascade(small, big, y, CascadeConfig(offload_budget=0.1))
    assert r.offload_fraction <= 0.13  # budget met on calibration; held-out within noise
    curve = {round(p["offload_fraction"], 2): p["accuracy"] for p in r.curve}
    assert curve[0.0] == pytest.approx(r.small_accuracy)
    assert r.curve[-1]["offload_fraction"] <= 1.0


def test_same_seed_same_operating_point():
    small, big, y = synthetic()
    a = run_cascade(small, big, y, CascadeConfig(seed=3))
    b = run_cascade(small, big, y, CascadeConfig(seed=3))
    assert a.to_dict() == b.to_dict()


def test_energy_by_hand():
    cost = DeviceCost(
        "d", infer_energy_j=1e-4, infer_latency_s=0.01, sleep_power_w=1e-3, input_size_bytes=784
    )
    (row,) = energy_table(0.1, cost, ["nb-iot"])
    link = load_link("nb-iot")
    up = transfer_energy_j(784, link) + 1e-3 * transfer_latency_s(784, link)
    assert row["all_offload_energy_j"] == pytest.approx(up)
    assert row["cascade_energy_j"] == pytest.approx(1e-4 + 0.1 * up)
    assert row["saving"] == pytest.approx(1 - (1e-4 + 0.1 * up) / up)


def test_learned_gate_cascade_meets_the_target_like_max_prob():
    small, big, y = synthetic()
    learned = run_cascade(small, big, y, CascadeConfig(gate="learned", max_accuracy_drop=0.01))
    assert learned.gate == "learned"
    assert learned.accuracy >= learned.big_accuracy - 0.02
    assert 0.0 < learned.offload_fraction < 1.0
