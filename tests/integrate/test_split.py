"""Split computing: the rate-sweep optimiser equals brute force; hand-computed costs."""

import numpy as np
import pytest

from tinylarge.integrate.split import (
    CutCost,
    Objective,
    brute_force_cut,
    choose,
    end_to_end,
    rate_sweep,
)
from tinylarge.net import LinkProfile, load_link


def cuts_like_a_cnn():
    """Input 784 B; activations grow then shrink; device time grows with each block."""
    sizes = [784, 12544, 6272, 1568, 256, 0]
    return [
        CutCost(
            cut=k,
            device_latency_s=0.004 * k,
            device_energy_j=0.0005 * k,
            server_latency_s=0.0005 * (5 - k) if k < 5 else 0.0,
            sent_bytes=s,
            fits=True,
        )
        for k, s in enumerate(sizes)
    ]


def link(rate_bps, rtt_s=0.01):
    return LinkProfile(
        name=f"r{rate_bps:g}",
        description="",
        rate_bps=rate_bps,
        rtt_s=rtt_s,
        tx_power_w=0.5,
        overhead_bytes=40,
    )


def test_latency_by_hand():
    c = CutCost(
        cut=2,
        device_latency_s=0.01,
        device_energy_j=0.001,
        server_latency_s=0.002,
        sent_bytes=960,
        fits=True,
    )
    lk = link(1e6)
    # (960 + 40) B = 8000 bits at 1 Mb/s = 8 ms on air, + 10 ms rtt + 2 ms server + 10 ms device
    assert end_to_end(c, lk, 1e-3, Objective.LATENCY) == pytest.approx(0.030)
    # device energy: 1 mJ compute + 0.5 W x 8 ms radio + 1 mW x (8 + 10 + 2) ms waiting
    assert end_to_end(c, lk, 1e-3, Objective.ENERGY) == pytest.approx(0.001 + 0.004 + 20e-6)


@pytest.mark.parametrize("objective", list(Objective))
def test_sweep_matches_brute_force_at_every_rate(objective):
    cuts = cuts_like_a_cnn()
    base = link(1.0)
    sweep = rate_sweep(cuts, base, 1e-3, objective)
    assert sweep[0]["from_rate_bps"] == 0.0 and sweep[-1]["to_rate_bps"] == np.inf
    for rate in np.logspace(2, 10, 400):
        lk = base.model_copy(update={"rate_bps": rate})
        seg = next(s for s in sweep if s["from_rate_bps"] <= rate < s["to_rate_bps"])
        bf = brute_force_cut(cuts, lk, 1e-3, objective)
        a = end_to_end(cuts[seg["cut"]], lk, 1e-3, objective)
        b = end_to_end(cuts[bf], lk, 1e-3, objective)
        assert a == pytest.approx(b, rel=1e-12), (rate, seg, bf)


def test_best_cut_moves_from_device_to_server_as_the_rate_grows():
    cuts = cuts_like_a_cnn()
    choices = choose(cuts, [load_link("nb-iot"), load_link("6g")], 1e-3, Objective.LATENCY)
    assert choices[0].best_cut == 5  # NB-IoT: keep everything on the device
    assert choices[1].best_cut == 0  # 6G: ship the input to the server
    assert all(c.best_cut == c.brute_force_cut for c in choices)


def test_cuts_that_do_not_fit_are_never_chosen():
    cuts = cuts_like_a_cnn()
    cuts[5].fits = cuts[4].fits = False
    (choice,) = choose(cuts, [load_link("nb-iot")], 1e-3, Objective.LATENCY)
    assert choice.best_cut not in (4, 5)
    assert choice.all_device_latency_s is None and choice.all_device_energy_j is None


def test_a_choice_carries_both_costs_in_their_units():
    cuts = cuts_like_a_cnn()
    link = load_link("6g")
    for objective in Objective:
        (ch,) = choose(cuts, [link], 1e-3, objective)
        best = cuts[ch.best_cut]
        assert ch.latency_s == pytest.approx(end_to_end(best, link, 1e-3, Objective.LATENCY))
        assert ch.energy_j == pytest.approx(end_to_end(best, link, 1e-3, Objective.ENERGY))
        assert ch.all_server_latency_s == end_to_end(cuts[0], link, 1e-3, Objective.LATENCY)
        assert ch.all_device_energy_j == end_to_end(cuts[5], link, 1e-3, Objective.ENERGY)
