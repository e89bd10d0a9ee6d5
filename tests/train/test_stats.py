"""Statistics: intervals and paired tests against scipy's own and hand computation."""

import math

import numpy as np
import pytest
from scipy import stats

from tinylarge.train.stats import format_ci, mean_ci, paired


def test_t_interval_by_hand():
    # mean 2, sample std 1, n 4: half-width = t_{0.975, 3} * 1 / 2 = 3.1824 / 2
    m = mean_ci([1.0, 2.0, 3.0, 2.0])
    assert m.mean == 2.0 and m.n == 4
    assert m.std == pytest.approx(math.sqrt(2 / 3))
    half = 3.182446305284263 * math.sqrt(2 / 3) / 2
    assert (m.ci_low, m.ci_high) == pytest.approx((2 - half, 2 + half))
    assert m.excludes_zero


def test_one_run_has_no_interval():
    m = mean_ci([0.5])
    assert math.isnan(m.ci_low) and m.std == 0.0 and not m.excludes_zero
    assert format_ci(m) == "50.00%"


def test_paired_test_is_scipys_ttest_rel():
    rng = np.random.default_rng(0)
    a = rng.normal(0.9, 0.01, 6)
    b = a - rng.normal(0.005, 0.004, 6)
    p = paired(a, b)
    assert p.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert p.difference.mean == pytest.approx(np.mean(a - b))
    ref = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (p.difference.ci_low, p.difference.ci_high) == pytest.approx((ref.low, ref.high))
    assert p.to_dict()["excludes_zero"] == (ref.low > 0 or ref.high < 0)


def test_the_resampling_correction_widens_the_interval():
    a, b = [0.90, 0.92, 0.91, 0.93, 0.90], [0.89, 0.90, 0.90, 0.91, 0.89]
    plain, corrected = paired(a, b), paired(a, b, test_train_ratio=1.0)
    width = plain.difference.ci_high - plain.difference.ci_low
    wider = corrected.difference.ci_high - corrected.difference.ci_low
    # the variance factor goes from 1/5 to 1/5 + 1: the interval widens by sqrt(6)
    assert wider == pytest.approx(width * math.sqrt(6))
    assert corrected.p_value > plain.p_value
    assert "Nadeau" in corrected.test


def test_no_spread_means_a_certain_answer():
    assert paired([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    assert paired([1.0, 2.0], [0.0, 1.0]).p_value == 0.0
    with pytest.raises(ValueError, match="differ in number"):
        paired([1.0], [1.0, 2.0])
