"""Threshold calibration: hand-made curves, the one-target rule, repeated splits."""

import numpy as np
import pytest
from pydantic import ValidationError

from tinylarge.errors import TinylargeError
from tinylarge.integrate.calibration import (
    GateCalibration,
    calibrate_gate,
    calibrate_on_validation,
    calibrate_threshold,
    choose_threshold,
    offload_curve,
)
from tinylarge.integrate.risk_control import certify_threshold
from tinylarge.tiny.gates import Gate, gate_scores


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
    config = GateCalibration(max_accuracy_drop=0.01, n_splits=5, method="point")
    points, curve, s = calibrate_gate(logits, y, big_ok, config, "student", "teacher")
    assert [p.seed for p in points] == [0, 1, 2, 3, 4]
    assert len({p.threshold for p in points}) > 1
    assert len(curve.accuracy) == points[0].n_eval + 1
    assert s["n_splits"] == 5
    # the system is far better than the local model alone, and about as good as the big one
    assert s["vs_student"]["ci_low"] > 0.1
    assert s["vs_student"]["p_value"] < 0.01
    assert abs(s["vs_teacher"]["mean"]) < 0.03


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    logits = rng.normal(size=(n, 5))
    sure = rng.random(n) < 0.8
    logits[sure, y[sure]] += 6.0
    return logits, y, rng.random(n) < 0.97


def test_risk_control_is_the_default_and_the_point_method_is_the_old_rule():
    logits, y, big_ok = synthetic(600, 0)
    score = logits.max(1)
    small_ok = logits.argmax(1) == y
    config = GateCalibration(max_accuracy_drop=0.02)
    assert (config.method, config.delta, config.risk, config.level) == (
        "risk-control",
        0.1,
        "accuracy-drop",
        0.02,
    )
    c = choose_threshold(score, small_ok, big_ok, config)
    assert c == certify_threshold(score, small_ok, big_ok, "accuracy-drop", 0.02, 0.1)
    point = choose_threshold(score, small_ok, big_ok, config.model_copy(update={"method": "point"}))
    curve = offload_curve(score, small_ok, big_ok)
    assert point.threshold == calibrate_threshold(curve, big_ok.mean() - 0.02)
    assert point.delta is None and point.upper_bound is None
    assert (score < c.threshold).mean() >= (score < point.threshold).mean()  # it pays to be sure


def test_validation_calibrates_and_the_test_set_only_reports():
    val, test = synthetic(800, 1), synthetic(1000, 2)
    config = GateCalibration(max_accuracy_drop=0.02)
    p, curve, s = calibrate_on_validation(val, test, config, "student", "teacher")
    assert (p.n_calibration, p.n_eval) == (800, 1000)
    assert p.certified["n"] == 800 and p.certified["upper_bound"] <= 0.02
    score = gate_scores(test[0], Gate.MAX_PROB)
    assert p.offload_fraction == pytest.approx((score < p.threshold).mean())
    assert p.accuracy_gap_vs_large == pytest.approx(p.accuracy - p.big_accuracy)
    assert s["accuracy"]["mean"] == pytest.approx(p.accuracy)
    assert s["certified"] == p.certified and s["calibrated_on"] == "validation"
    # the threshold depends on the validation data only
    other = calibrate_on_validation(val, synthetic(1000, 3), config, "student", "teacher")[0]
    assert other.threshold == p.threshold


def test_the_learned_gate_is_certified_on_rows_it_was_not_fitted_to():
    val, test = synthetic(800, 1), synthetic(1000, 2)
    config = GateCalibration(gate="learned", max_accuracy_drop=0.02)
    p = calibrate_on_validation(val, test, config, "student", "teacher")[0]
    assert p.certified["n"] == 400  # half fits the gate, half certifies
    point = config.model_copy(update={"method": "point"})
    assert calibrate_on_validation(val, test, point, "s", "t")[0].certified["n"] == 800
