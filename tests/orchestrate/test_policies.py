"""The policies' building blocks: capacity pricing keeps planned edge work within capacity, shares
fill a cell's band and meet the rates asked for, the gate-score table is a threshold rule."""

import numpy as np
import pytest

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.net import load_band, uplink_rate_bps
from tinylarge.orchestrate.actions import ScoreTable
from tinylarge.orchestrate.joint import _share_for_rate, price_edge, sqrt_shares
from tinylarge.orchestrate.policies import make_policy, policy_names
from tinylarge.orchestrate.predict import Prediction


def test_registry_and_parameters():
    assert policy_names() == [
        "all-local",
        "all-edge",
        "all-cloud",
        "cascade-threshold",
        "split-optimal",
        "drift-plus-penalty",
        "joint",
    ]
    with pytest.raises(UnknownNameError, match="unknown policy 'oracle'; valid: all-cloud"):
        make_policy("oracle")
    with pytest.raises(TinylargeError, match="policy 'joint' has no parameter 'v'; valid: rho_max"):
        make_policy("joint", v=3.0)
    assert make_policy("drift-plus-penalty", v=3.0).params == {"v": 3.0}


def test_capacity_price_keeps_planned_work_within_capacity():
    rng = np.random.default_rng(0)
    r, a = 400, 5
    work = np.zeros((r, a))
    work[:, 1] = 0.004  # one edge action, 4 ms of work
    cost = rng.uniform(0, 10, (r, a))
    cost[:, 1] = 0.0  # everybody wants the edge
    site = rng.integers(0, 3, r)
    pred = Prediction(cost, cost, cost, work, work > 0, work, cost)
    cap = np.array([0.1, 0.05, 1.0])
    act = price_edge(pred, site, cap)
    load = np.bincount(site, weights=work[np.arange(r), act], minlength=3)
    assert np.all(load <= cap + 1e-12)
    assert load[0] > 0.09 and load[1] > 0.04  # the price is the smallest that fits
    assert np.all(act[site == 2] == 1)  # a site with room is left alone


def test_sqrt_shares_fill_each_cell():
    site = np.array([0, 0, 0, 1, 1, 2])
    s = sqrt_shares(site, np.array([1.0, 4.0, 9.0, 1.0, 1.0, 5.0]), 3)
    np.testing.assert_allclose(np.bincount(site, weights=s), [1, 1, 1])
    np.testing.assert_allclose(s[:3], [1 / 6, 2 / 6, 3 / 6])


def test_share_for_rate_inverts_the_rate_law():
    band = load_band("nr-fr1")
    snr = np.array([-5.0, 5.0, 20.0, 20.0])
    want = np.array([1e6, 3e6, 20e6, 1e12])
    share = _share_for_rate(band, snr, want)
    assert np.isinf(share[3])  # beyond the whole band
    got = uplink_rate_bps(band, snr[:3], share[:3])
    np.testing.assert_allclose(got, want[:3], rtol=1e-6)
    assert np.all(uplink_rate_bps(band, snr[:3], share[:3] * 0.999) < want[:3])


def test_score_table_is_a_threshold_rule(workload):
    table = ScoreTable.of(workload)
    assert np.all(np.diff(table.benefit) <= 1e-12)  # non-increasing in the score
    assert abs(table.mass.sum() - 1) < 1e-12
    price = np.array([0.0, 5.0, 50.0, 1e9])
    thr, cost, p_off, p_wrong = table.cascade(price, np.zeros(4), 1000.0)
    assert np.all(np.diff(thr) <= 0) and thr[-1] == -np.inf and np.all(np.diff(p_off) <= 0)
    # never offloading costs the student's expected errors
    assert cost[-1] == pytest.approx(1000 * np.sum(table.mass * (1 - table.p_student)))
    assert table.mean_benefit_below(np.array([-np.inf]))[0] == 0.0
