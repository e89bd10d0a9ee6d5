"""Cascade: calibration on one half holds on the other, over repeated splits; energy by hand."""

import numpy as np
import pytest

from tinylarge.errors import UnknownNameError
from tinylarge.integrate.calibration import GateCalibration as CascadeConfig
from tinylarge.integrate.cascade import DeviceCost, cascade_result, energy_table
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


def test_the_cascade_beats_the_student_and_stays_near_the_teacher_on_every_split():
    small, big, y = synthetic()
    r = cascade_result(small, big, y, CascadeConfig(max_accuracy_drop=0.01))
    assert r.small_accuracy < r.accuracy
    assert r.accuracy >= r.big_accuracy - 0.02  # held-out: allow sampling slack
    assert 0.0 < r.offload_fraction < 1.0
    assert r.n_calibration + r.n_eval == len(y)
    s = r.summary
    assert s["n_splits"] == len(r.splits) == 5
    assert s["vs_student"]["ci_low"] > 0.05 and s["vs_student"]["p_value"] < 0.01
    assert s["vs_teacher"]["ci_low"] > -0.02  # within the allowed drop, with its interval
    assert s["offload_fraction"]["ci_high"] < 1.0


def test_a_broken_gate_shows_up_as_no_gain_over_the_student():
    """Offloading at random (the gate knows nothing) buys only its share of the teacher."""
    small, big, y = synthetic()
    # the same answers, with a confidence that says nothing about them
    blind = np.zeros_like(small)
    blind[np.arange(len(y)), small.argmax(1)] = np.random.default_rng(1).random(len(y))
    r = cascade_result(blind, big, y, CascadeConfig(offload_budget=0.2))
    ev = np.random.default_rng(r.splits[0].seed).permutation(len(y))[r.n_calibration :]
    assert r.small_accuracy == pytest.approx(np.mean(small.argmax(1)[ev] == y[ev]))
    informed = cascade_result(small, big, y, CascadeConfig(offload_budget=0.2))
    assert informed.summary["vs_student"]["mean"] > r.summary["vs_student"]["mean"] + 0.05


def test_bad_devices_and_links_fail_when_the_config_is_built(tmp_path):
    from tinylarge.integrate.cascade import CascadeConfig as Full

    files = {"teacher": tmp_path / "t.pt", "student": tmp_path / "s.tflite"}
    for f in files.values():
        f.write_bytes(b"")
    with pytest.raises(UnknownNameError, match="unknown device 'toaster'; valid: .*nrf52840"):
        Full(**files, device="toaster")
    with pytest.raises(UnknownNameError, match="unknown link 'carrier-pigeon'"):
        Full(**files, links=["6g", "carrier-pigeon"])
    with pytest.raises(Exception, match="does not exist"):
        Full(teacher=tmp_path / "missing.pt", student=files["student"])


def test_offload_budget_is_respected():
    small, big, y = synthetic()
    r = cascade_result(small, big, y, CascadeConfig(offload_budget=0.1))
    assert r.offload_fraction <= 0.13  # budget met on calibration; held-out within noise
    curve = {round(p["offload_fraction"], 2): p["accuracy"] for p in r.curve}
    assert curve[0.0] == pytest.approx(r.small_accuracy)
    assert r.curve[-1]["offload_fraction"] <= 1.0


def test_same_seed_same_operating_point():
    small, big, y = synthetic()
    a = cascade_result(small, big, y, CascadeConfig(seed=3))
    b = cascade_result(small, big, y, CascadeConfig(seed=3))
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
    learned = cascade_result(small, big, y, CascadeConfig(gate="learned", max_accuracy_drop=0.01))
    assert learned.gate == "learned"
    assert learned.accuracy >= learned.big_accuracy - 0.02
    assert 0.0 < learned.offload_fraction < 1.0
