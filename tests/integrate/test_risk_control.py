"""Learn then Test thresholds: exact tails against a hand-summed binomial, a small case by hand,
and the guarantee itself over many calibration draws from a population with a known risk."""

from math import comb

import numpy as np
import pytest

from tinylarge.integrate.risk_control import (
    binomial_p_value,
    certify_threshold,
    fixed_sequence,
    min_samples,
    upper_bound,
)


def test_p_value_is_the_binomial_lower_tail_summed_by_hand():
    for n, k, a in ((50, 0, 0.1), (50, 3, 0.1), (400, 2, 0.01), (20, 20, 0.3)):
        ref = sum(comb(n, j) * a**j * (1 - a) ** (n - j) for j in range(k + 1))
        assert binomial_p_value(k, n, a) == pytest.approx(ref, rel=1e-9)


def test_upper_bound_is_where_the_p_value_reaches_delta():
    for n, k, delta in ((400, 0, 0.1), (400, 3, 0.1), (1000, 10, 0.05)):
        u = upper_bound(k, n, delta)
        assert binomial_p_value(k, n, u) == pytest.approx(delta, rel=1e-6)
        assert binomial_p_value(k, n, u * 1.01) < delta < binomial_p_value(k, n, u * 0.99)
    assert upper_bound(5, 5, 0.1) == 1.0


def test_fixed_sequence_stops_at_the_first_p_value_above_delta():
    assert fixed_sequence(np.array([0.01, 0.05, 0.2, 0.01]), 0.1) == 2
    assert fixed_sequence(np.array([0.5, 0.01]), 0.1) == 0
    assert fixed_sequence(np.array([0.01, 0.02]), 0.1) == 2


def test_min_samples_matches_the_zero_loss_p_value():
    n = min_samples(0.002, 0.1)
    assert n == 1151  # 0.2 points at delta 0.1 needs over a thousand calibration samples
    assert binomial_p_value(0, n, 0.002) <= 0.1 < binomial_p_value(0, n - 1, 0.002)


def test_by_hand_the_least_offloading_with_at_most_one_loss_kept():
    # n = 50, level 0.1, delta 0.1: P(Binom(50, 0.1) <= 1) = 0.034, <= 2: 0.112 -> one loss kept
    n = 50
    score = np.arange(n) / n  # sample i has score i/50
    small = np.ones(n, bool)
    small[[3, 10, 20]] = False  # the local model is wrong on these; the big one always right
    c = certify_threshold(score, small, np.ones(n, bool), "accuracy-drop", 0.1, 0.1)
    assert not c.fallback
    assert (score < c.threshold).sum() == 11  # offloads samples 0..10, keeps the loss at 20
    assert c.empirical == pytest.approx(1 / 50)
    assert c.upper_bound == pytest.approx(upper_bound(1, 50, 0.1)) and c.upper_bound <= 0.1
    # a loss the big model shares is no loss: the cascade cannot lose accuracy there
    big = np.ones(n, bool)
    big[20] = False
    c2 = certify_threshold(score, small, big, "accuracy-drop", 0.1, 0.1)
    assert (score < c2.threshold).sum() == 4  # samples 0..3; 10 is the one loss kept


def test_too_few_samples_fall_back_to_offloading_everything():
    score = np.linspace(0, 1, 400)
    ok = np.ones(400, bool)
    c = certify_threshold(score, ok, ok, "accuracy-drop", 0.002, 0.1)
    assert c.fallback and c.threshold == np.inf and c.upper_bound == 0.0
    assert (score < c.threshold).all()


def test_offload_budget_offloads_the_most_it_can_certify():
    score = np.random.default_rng(0).random(1000)
    ok = np.ones(1000, bool)
    c = certify_threshold(score, ok, ok, "offload", 0.2, 0.1)
    k = (score < c.threshold).sum()
    assert binomial_p_value(k, 1000, 0.2) <= 0.1 < binomial_p_value(k + 1, 1000, 0.2)
    assert c.upper_bound <= 0.2 and c.empirical == pytest.approx(k / 1000)


def population(n, rng):
    """Scores ~ U(0, 1); the local model is wrong (the big one right) with probability
    0.2 (1 - s), so keeping every score >= t has risk 0.1 (1 - t)^2 exactly."""
    s = rng.random(n)
    bad = rng.random(n) < 0.2 * (1 - s)
    return s, ~bad


def true_risk(t):
    t = np.clip(t, 0.0, 1.0)
    return 0.1 * (1 - t) ** 2


def test_the_guarantee_holds_over_calibration_draws_and_the_point_estimate_does_not():
    """With delta = 0.1, the certified threshold's true risk exceeds the level in at most ~10 % of
    calibration draws; the point estimate (the draw's own risk at the level) in about half."""
    rng = np.random.default_rng(1)
    level, delta, n, draws = 0.01, 0.1, 300, 400
    broken_lt, broken_point, offload = 0, 0, []
    for _ in range(draws):
        s, small = population(n, rng)
        big = np.ones(n, bool)
        c = certify_threshold(s, small, big, "accuracy-drop", level, delta)
        broken_lt += true_risk(c.threshold) > level
        offload.append(min(max(c.threshold, 0.0), 1.0))
        # point: the least offloading whose calibration risk is within the level
        order = np.argsort(s)
        kept_losses = np.concatenate([np.cumsum((~small[order])[::-1])[::-1], [0]]) / n
        i = int(np.flatnonzero(kept_losses <= level)[0])
        t_point = s[order][i] if i < n else np.inf
        broken_point += true_risk(t_point) > level
    assert broken_lt / draws <= delta + 3 * np.sqrt(delta * (1 - delta) / draws)
    assert broken_point / draws > 0.3
    assert np.mean(offload) < 0.9  # and it still keeps a share of the inputs local
