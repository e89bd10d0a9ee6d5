"""Gates and calibration: hand-made cases with known answers."""

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.integrate.gates import (
    Gate,
    calibrate_threshold,
    confidence,
    offload_curve,
    softmax,
)


def test_softmax_rows_sum_to_one_and_survive_large_logits():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])


def test_gates_rank_a_peaked_distribution_above_a_flat_one():
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]])
    for gate in (Gate.MAX_PROB, Gate.MARGIN, Gate.ENTROPY):
        c = confidence(probs, gate)
        assert c[0] > c[1], gate
    np.testing.assert_allclose(confidence(probs, "margin"), [0.85, 0.05])


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


def test_learned_gate_ranks_right_answers_above_wrong_ones():
    from tinylarge.integrate.gates import LearnedGate

    rng = np.random.default_rng(0)
    n = 2000
    peak = rng.random(n)
    probs = np.full((n, 3), 0.0)
    probs[:, 0] = 0.34 + 0.66 * peak
    probs[:, 1] = probs[:, 2] = (1 - probs[:, 0]) / 2
    right = rng.random(n) < peak  # surer -> more often right
    gate = LearnedGate(seed=0).fit(probs[:1000], right[:1000])
    s = gate.score(probs[1000:])
    assert s[right[1000:]].mean() > s[~right[1000:]].mean()
    with pytest.raises(TinylargeError, match="learned gate must be fitted"):
        confidence(probs, Gate.LEARNED)
