"""Placement, mobility and arrivals: the rates asked for, positions inside the region, the nearest
site, and the same devices and arrivals whatever the sharding."""

import numpy as np
import pytest

from tinylarge.orchestrate.config import parse_scenario
from tinylarge.orchestrate.fleet import (
    layout_of,
    make_arrivals,
    make_devices,
    positions_m,
    serving_site,
)

CLASSES = ["nrf52840", "esp32s3", "stm32h7a3", "rp2040"]


def scenario(**arrivals):
    return parse_scenario(
        {
            "duration_s": 200,
            "devices": {
                "n": 3000,
                "mix": {"nrf52840": 3, "rp2040": 1},
                "arrivals": {"mean_interval_s": 5.0, **arrivals},
            },
            "network": {"isd_m": 100, "sites_per_side": 3, "devices_per_region": 1000},
        },
        "test",
    )


@pytest.mark.parametrize("kind", ["poisson", "periodic", "bursty"])
def test_mean_rate(kind):
    sc = scenario(kind=kind, jitter_s=0.5)
    lay = layout_of(sc)
    dev = make_devices(sc, lay, np.arange(lay.n_regions), CLASSES)
    arr = make_arrivals(sc, dev)
    expected = 3000 * 200 / 5.0
    # bursts: three regions see only ~3 burst cycles each, so the count varies more
    assert abs(len(arr.t_s) - expected) < (0.15 if kind == "bursty" else 0.03) * expected
    assert np.all(np.diff(arr.t_s) >= 0) and arr.t_s.min() >= 0 and arr.t_s.max() < 200


def test_periodic_devices_are_evenly_spaced():
    sc = scenario(kind="periodic")
    lay = layout_of(sc)
    dev = make_devices(sc, lay, np.array([0]), CLASSES)
    arr = make_arrivals(sc, dev)
    gaps = np.diff(np.sort(arr.t_s[arr.local == 17]))
    np.testing.assert_allclose(gaps, 5.0)


def test_bursts_raise_the_rate_in_bursts_only():
    sc = scenario(kind="bursty", burst_factor=8.0, burst_on_s=10, burst_off_s=40)
    lay = layout_of(sc)
    dev = make_devices(sc, lay, np.array([0]), CLASSES)
    counts = np.bincount(make_arrivals(sc, dev).t_s.astype(int) // 5, minlength=40)
    assert counts.max() > 4 * np.median(counts)


def test_mix_positions_and_sites():
    sc = scenario()
    lay = layout_of(sc)
    dev = make_devices(sc, lay, np.arange(lay.n_regions), CLASSES)
    frac_rp = np.mean(dev.cls == CLASSES.index("rp2040"))
    assert abs(frac_rp - 0.25) < 0.03 and set(np.unique(dev.cls)) == {0, 3}
    local = np.arange(len(dev.ids))
    for t in (0.0, 37.0, 1000.0):
        x, y = positions_m(dev, local, np.full(len(local), t), lay.side_m)
        assert x.min() >= 0 and x.max() <= lay.side_m and y.min() >= 0 and y.max() <= lay.side_m
        site, d2 = serving_site(lay, dev.region, x, y)
        assert np.all(site // lay.sites_per_region == dev.region)
        assert d2.max() <= np.sqrt(2) * lay.isd_m / 2 + 1e-9


def test_sharding_keeps_devices_and_arrivals():
    sc = scenario()
    lay = layout_of(sc)
    whole = make_devices(sc, lay, np.arange(3), CLASSES)
    part = make_devices(sc, lay, np.array([1, 2]), CLASSES)
    np.testing.assert_array_equal(whole.x0_m[1000:], part.x0_m)
    a_whole, a_part = make_arrivals(sc, whole), make_arrivals(sc, part)
    mine = whole.ids[a_whole.local] >= 1000
    np.testing.assert_array_equal(a_whole.t_s[mine], a_part.t_s)
    np.testing.assert_array_equal(a_whole.key[mine], a_part.key)
