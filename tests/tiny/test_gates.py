"""Gates: hand-made cases with known answers."""

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.tiny.gates import Gate, LearnedGate, confidence, gate_scores, softmax


def test_softmax_rows_sum_to_one_and_survive_large_logits():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])


def test_max_prob_gate_on_logits_is_the_softmax_peak():
    logits = np.array([[0.0, 0.0], [10.0, 0.0], [1.0, 2.0]])
    expected = [0.5, 1 / (1 + np.exp(-10)), 0.7310586]
    np.testing.assert_allclose(gate_scores(logits, Gate.MAX_PROB), expected, rtol=1e-6)
    np.testing.assert_allclose(gate_scores(logits, lambda z: z[:, 0]), [0.0, 10.0, 1.0])


def test_gates_rank_a_peaked_distribution_above_a_flat_one():
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]])
    for gate in (Gate.MAX_PROB, Gate.MARGIN, Gate.ENTROPY):
        c = confidence(probs, gate)
        assert c[0] > c[1], gate
    np.testing.assert_allclose(confidence(probs, "margin"), [0.85, 0.05])


def test_learned_gate_ranks_right_answers_above_wrong_ones():
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
    np.testing.assert_allclose(gate_scores(np.log(probs[1000:]), gate), s, rtol=1e-9)
    with pytest.raises(TinylargeError, match="learned gate must be fitted"):
        confidence(probs, Gate.LEARNED)
