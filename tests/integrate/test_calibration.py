"""Threshold calibration: hand-made curves, the one-target rule, repeated splits."""

import numpy as np
import pytest
from pydantic import ValidationError

from tinylarge.errors import TinylargeError
from tinylarge.integrate.calibration import (
    GateCalibration,
    calibrate_gate,
    calibrate_threshold,
    offload_curve,
)


def test_curve_by_hand():
    # scores 0.1..0.4; the small model is wrong on the two least confident, the big one always right
    score = np.array([0.4, 0.1, 0.3, 0.2])
    small = np.array([1, 0, 1, 0])
    big = np.array([1, 1, 1, 1])
    curve = offload_curve(score, small, big)
    np.testing.assert_allclose(curve.offload_fraction, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve.accuracy, [0.5, 0.75, 1, 1, 1])
    t = calibrate_threshold(curve, target_accuracy=1.0)
    assert t == pytest.approx(0.25)  # offload scores 0.1 and 0.2 only
    assert (score < t).mean() == 0.5


def test_budget_picks_the_best_point_within_it():
    score = np.array([0.4, 0.1, 0.3, 0.2])
    curve = offload_curve(score, np.array([1, 0, 1, 0]), np.ones(4))
    assert (score < calibrate_threshold(curve, offload_budget=0.3)).mean() == 0.25
    with pytest.raises(TinylargeError, match="offload_budget must be in"):
        calibrate_threshold(curve, offload_budget=1.5)
    with pytest.raises(TinylargeError, match="exactly one"):
        calibrate_threshold(curve)


def test_a_budget_replaces_the_accuracy_target_and_bad_values_fail():
    assert GateCalibration(offload_budget=0.1).max_accuracy_drop is None
    with pytest.raises(ValidationError, match="max_accuracy_drop"):
        GateCalibration(max_accuracy_drop=1.5)
    with pytest.raises(ValidationError, match="set max_accuracy_drop or offload_budget"):
        GateCalibration(max_accuracy_drop=None)
    with pytest.raises(ValidationError, match="gate"):
        GateCalibration(gate="vibes")


def test_repeated_splits_differ_and_the_summary_compares_both_models():
    rng = np.random.default_rng(0)
    n, k = 1000, 5
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    sure = rng.random(n) < 0.7  # these get a peaked, right answer
    logits[sure, y[sure]] += 6.0
    big_ok = rng.random(n) < 0.95
    config = GateCalibration(max_accuracy_drop=0.01, n_splits=5)
    points, curve, s = calibrate_gate(logits, y, big_ok, config, "student", "teacher")
    assert [p.seed for p in points] == [0, 1, 2, 3, 4]
    assert len({p.threshold for p in points}) > 1
    assert len(curve.accuracy) == points[0].n_eval + 1
    assert s["n_splits"] == 5
    # the system is far better than the local model alone, and about as good as the big one
    assert s["vs_student"]["ci_low"] > 0.1
    assert s["vs_student"]["p_value"] < 0.01
    assert abs(s["vs_teacher"]["mean"]) < 0.03
