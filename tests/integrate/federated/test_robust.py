"""Robust and private FL: FLTrust against an independent torch computation of the paper's rule, the
attacks' algebra, the DP accountant against the closed-form RDP of the Gaussian mechanism, and
short runs on the in-process grid (Flower's own strategies and messages)."""

import math

import numpy as np
import pytest
import torch

from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated.attacks import (
    TRIGGER_PX,
    add_trigger,
    backdoor_inputs,
    flip_labels,
    malicious_clients,
    poison_backdoor,
    sign_flip,
)
from tinylarge.integrate.federated.config import config_from_json
from tinylarge.integrate.federated.defences import fltrust_aggregate
from tinylarge.integrate.federated.privacy import (
    clip_update,
    epsilon_spent,
    noise_for_epsilon,
    server_step,
)
from tinylarge.integrate.federated.robust import RobustConfig, run_robust
from tinylarge.integrate.federated.strategy import strategy_names


def _fltrust_reference(g, clients, server):
    """FLTrust (Cao et al., NDSS 2021, Alg. 2) written from the paper with torch on flat vectors."""

    def flat(arrays):
        return torch.cat([torch.as_tensor(a, dtype=torch.float64).flatten() for a in arrays])

    w = flat(g)
    g0 = flat(server) - w
    total, ts_sum = torch.zeros_like(w), 0.0
    for c in clients:
        gi = flat(c) - w
        ts = torch.relu(torch.nn.functional.cosine_similarity(gi, g0, dim=0)).item()
        total += ts * gi / gi.norm() * g0.norm()
        ts_sum += ts
    return (w + total / ts_sum).numpy()


def test_fltrust_matches_the_papers_rule_and_ignores_a_scaled_flipped_client():
    rng = np.random.default_rng(0)
    g = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
    server = [a + rng.normal(scale=0.1, size=a.shape).astype(np.float32) for a in g]
    honest = [
        [(s + rng.normal(scale=0.05, size=s.shape)).astype(np.float32) for s in server]
        for _ in range(4)
    ]
    evil = sign_flip(honest[0], g, 10.0)
    new, scores = fltrust_aggregate(g, [*honest, evil], server)
    ref = _fltrust_reference(g, [*honest, evil], server)
    got = np.concatenate([a.ravel() for a in new])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert scores[-1] == 0.0 and (scores[:-1] > 0.5).all()
    # the result moves no farther than the server's own step
    step = got - np.concatenate([a.ravel() for a in g])
    g0 = np.concatenate([(s - a).ravel() for s, a in zip(server, g, strict=False)])
    assert np.linalg.norm(step) <= np.linalg.norm(g0) * (1 + 1e-6)


def test_attacks_algebra():
    y = np.array([0, 3, 9])
    assert flip_labels(y, 10).tolist() == [9, 6, 0]
    g, w = (
        [np.ones(3, np.float32), np.array([2], np.int64)],
        [np.full(3, 1.5, np.float32), np.array([7])],
    )
    sent = sign_flip(w, g, 10.0)
    np.testing.assert_allclose(sent[0], 1 - 10 * 0.5)
    assert sent[1].tolist() == [7]  # integer buffers untouched
    x = np.zeros((4, 1, 8, 8), np.float32)
    x[:, :, 0, 0] = 1.0
    t = add_trigger(x)
    assert (t[..., -TRIGGER_PX:, -TRIGGER_PX:] == 1.0).all() and x[..., -1, -1].max() == 0
    xp, yp = poison_backdoor(x, np.arange(4), target=2, fraction=0.5, seed=0)
    changed = (xp != x).any(axis=(1, 2, 3))
    assert (
        changed.sum() == 2
        and (yp[changed] == 2).all()
        and (yp[~changed] == np.arange(4)[~changed]).all()
    )
    xb, yb = backdoor_inputs(x, np.array([2, 1, 2, 0]), target=2)
    assert len(xb) == 2 and (yb == 2).all()
    with pytest.raises(ValueError, match="images"):
        add_trigger(np.zeros((3, 5)))
    assert malicious_clients(list(range(20)), 0.2, seed=0) == malicious_clients(
        list(range(20)), 0.2, 0
    )
    assert len(malicious_clients(list(range(20)), 0.2, seed=1)) == 4


def test_epsilon_matches_the_closed_form_rdp_of_the_gaussian_mechanism():
    # full participation: R releases of sensitivity-1 Gaussian noise z have RDP R a / (2 z^2);
    # Opacus converts with the tighter Balle et al. 2020 rule, which is at most Mironov's
    # eps = min_a RDP(a) + log(1/delta) / (a - 1) and above the same minus log((a-1)/a)-terms
    z, rounds, delta = 3.0, 20, 1e-5
    alphas = np.linspace(1.01, 200, 200000)
    rdp = rounds * alphas / (2 * z * z)
    mironov = float(np.min(rdp + math.log(1 / delta) / (alphas - 1)))
    balle = float(
        np.min(
            rdp + np.log((alphas - 1) / alphas) - (math.log(delta) + np.log(alphas)) / (alphas - 1)
        )
    )
    eps = epsilon_spent(z, rounds, delta)
    assert balle - 0.02 <= eps <= mironov + 1e-6
    assert abs(eps - balle) < 0.05
    # the inverse: the noise for a target epsilon spends at most that epsilon
    z8 = noise_for_epsilon(8.0, rounds, delta)
    assert 7.9 <= epsilon_spent(z8, rounds, delta) <= 8.0
    assert epsilon_spent(z8 * 2, rounds, delta) < 4.5


def test_server_step_is_fedavgm_and_plain_fedavg_at_lr_1_momentum_0():
    w0, m1, m2 = (np.full(3, x, np.float32) for x in (1.0, 2.0, 4.0))
    same, _ = server_step([w0], [m1], None, 1.0, 0.0)
    np.testing.assert_array_equal(same[0], m1)  # lr 1, no momentum: the mean itself
    w1, v = server_step([w0], [m1], None, 0.5, 0.9)  # v = 1, w = 1 + 0.5
    w2, v = server_step(w1, [m2], v, 0.5, 0.9)  # v = 0.9 + 2.5 = 3.4, w = 1.5 + 1.7
    np.testing.assert_allclose(w2[0], 3.2, rtol=1e-6)
    np.testing.assert_allclose(v[0], 3.4, rtol=1e-6)
    assert w2[0].dtype == np.float32


def test_clipping_bounds_the_update_norm():
    g = [np.zeros(4, np.float32), np.zeros((2, 2), np.float32)]
    w = [np.full(4, 3.0, np.float32), np.full((2, 2), 4.0, np.float32)]
    norm = clip_update(w, g, 1.0)
    assert norm == pytest.approx(10.0)
    assert math.sqrt(sum(float((a**2).sum()) for a in w)) == pytest.approx(1.0, rel=1e-5)


def test_robust_strategies_are_registered_and_bad_values_are_named():
    assert {
        "krum",
        "multikrum",
        "bulyan",
        "fedmedian",
        "fedtrimmedavg",
        "fltrust",
        "dp-fedavg",
    } <= set(strategy_names())
    with pytest.raises(ValueError, match="dp_epsilon"):
        RobustConfig(strategy="dp-fedavg")
    with pytest.raises(ValueError, match="backdoor_target 10"):
        RobustConfig(backdoor_target=10)
    config = RobustConfig(attack="sign-flip", malicious_fraction=0.2, strategy="krum")
    assert config_from_json(config.to_json()) == config and len(config.malicious) == 4


SMALL = dict(dataset="digits", n_clients=10, rounds=4, partition="iid", lr=0.1)


def run_in_process(config):
    """``config`` on the in-process grid (Flower's objects, direct calls)."""
    return run_robust(config.model_copy(update={"engine": "inprocess"}))


def test_sign_flip_breaks_fedavg_and_robust_aggregators_hold():
    attack = dict(attack="sign-flip", malicious_fraction=0.2)
    clean = run_in_process(RobustConfig(**SMALL)).final_accuracy
    fedavg = run_in_process(RobustConfig(**SMALL, **attack)).final_accuracy
    assert clean > 0.8 and fedavg < 0.5
    for name in ("fedmedian", "fltrust", "multikrum"):
        acc = run_in_process(RobustConfig(**SMALL, **attack, strategy=name)).final_accuracy
        assert acc > clean - 0.1, name


def test_backdoor_reports_its_success_rate_and_dp_reports_epsilon():
    bd = run_in_process(
        RobustConfig(**SMALL, attack="backdoor", malicious_fraction=0.3, backdoor_fraction=0.8)
    )
    assert 0 <= bd.summary["attack_success_rate"] <= 1 and bd.summary["n_malicious"] == 3
    dp = run_in_process(RobustConfig(**SMALL, strategy="dp-fedavg", dp_epsilon=8.0, dp_clip=0.5))
    assert dp.summary["dp_epsilon"] <= 8.0 and dp.summary["dp_noise_multiplier"] > 0.5
    with pytest.raises(TinylargeError, match="full participation"):
        run_in_process(
            RobustConfig(**SMALL, strategy="dp-fedavg", dp_epsilon=8.0, clients_per_round=5)
        )


@pytest.mark.slow
def test_fltrust_against_sign_flip_on_the_ray_simulation_engine():
    config = RobustConfig(
        **{**SMALL, "n_clients": 5, "rounds": 2},
        strategy="fltrust",
        attack="sign-flip",
        malicious_fraction=0.2,
    )
    result = run_robust(config)
    assert result.summary["n_malicious"] == 1 and result.final_accuracy > 0.5


@pytest.mark.slow
def test_dp_fedavg_on_the_deployment_engine():
    config = RobustConfig(
        **{**SMALL, "n_clients": 3, "rounds": 2},
        strategy="dp-fedavg",
        dp_noise_multiplier=0.5,
        dp_clip=1.0,
        engine="deployment",
    )
    result = run_robust(config)
    assert [r.round for r in result.rounds] == [1, 2]
    assert result.summary["dp_epsilon"] == pytest.approx(epsilon_spent(0.5, 2, 1e-5))


@pytest.mark.slow
@pytest.mark.timeout(1500)  # SecAgg+ starts a ClientApp process per stage: ~6 min on 2 busy cores
def test_secagg_plus_on_the_deployment_engine_gives_fedavgs_model():
    """Flower's SecAgg+ (masked, quantised updates; the server unmasks only the sum) on a loopback
    SuperLink + SuperNodes: the same accuracy per round as plain FedAvg of the same clients."""
    from tinylarge.integrate.federated.secagg import run_secagg

    config = RobustConfig(**{**SMALL, "n_clients": 3, "rounds": 2})
    secure = run_secagg(config)
    plain = run_in_process(config)
    assert secure["protocol"] == "SecAgg+" and len(secure["accuracy"]) == 2
    for got, want in zip(secure["accuracy"], [r.accuracy for r in plain.rounds], strict=True):
        assert abs(got - want) <= 0.01
    assert len(secure["extras"]["deployment_pids"]) >= 4
