"""Bands load; link budget, rate law, latency and energy by hand; fading moments."""

import math

import numpy as np
import pytest

from tinylarge.errors import UnknownNameError
from tinylarge.net import (
    downlink_rate_bps,
    fading_power_gain,
    link_from_band,
    list_bands,
    load_band,
    load_link,
    one_way_latency_s,
    preset_snr_db,
    radio_energy_j,
    sample_fading_power_gain,
    uplink_rate_bps,
    uplink_snr_db,
)
from tinylarge.net.radio import noise_dbm


def test_band_catalog_spans_lpwa_to_subthz():
    names = list_bands()
    assert names[0] == "nb-iot" and names[-1] == "6g-subthz"
    assert {"lte-m", "nr-fr1", "nr-fr2", "6g-fr3"} <= set(names)
    assert 7.0 <= load_band("6g-fr3").fc_ghz <= 15.0 and load_band("nr-fr2").numerology == 3
    with pytest.raises(UnknownNameError, match="unknown band 'wifi'; valid: 6g-fr3, 6g-subthz"):
        load_band("wifi")


def test_link_budget_by_hand():
    band = load_band("nr-fr1")
    # noise: -174 + 10 log10(40e6) + 5 = -92.98 dBm
    assert noise_dbm(40e6, 5.0) == pytest.approx(-174 + 76.0206 + 5, abs=1e-4)
    # 23 dBm + 0 + 8 dBi - 120 dB - (-92.98) - 3 dB margin = 0.98 dB
    assert uplink_snr_db(band, 120.0) == pytest.approx(23 + 8 - 120 + 92.9794 - 3, abs=1e-4)


def test_rate_law_gap_cap_and_power_concentration():
    band = load_band("nr-fr1")
    # 10 dB, 1.5 dB gap: 40 MHz * 0.8 * log2(1 + 10^0.85)
    want = 40e6 * 0.8 * math.log2(1 + 10**0.85)
    assert uplink_rate_bps(band, 10.0) == pytest.approx(want)
    assert uplink_rate_bps(band, 60.0) == pytest.approx(40e6 * 4.0)  # capped at se_max
    # uplink: half the band carries the whole power, so SNR +3 dB and more than half the rate
    half = uplink_rate_bps(band, 0.0, 0.5)
    assert 0.5 * uplink_rate_bps(band, 0.0) < half < uplink_rate_bps(band, 0.0)
    # downlink: fixed PSD, the rate scales with the share
    assert downlink_rate_bps(band, 10.0, 0.25) == pytest.approx(
        0.25 * downlink_rate_bps(band, 10.0)
    )


def test_latency_and_energy_by_hand():
    band = load_band("nb-iot")
    # 40 ms grant + 0.1 s queue + 1000 B at 80 kb/s (0.1 s) + 3 km / c
    lat = one_way_latency_s(band, 1000, 80e3, 3000.0, 0.1)
    assert lat == pytest.approx(0.04 + 0.1 + 0.1 + 1e-5, rel=1e-3)
    e = radio_energy_j(band, tx_s=0.1, rx_s=0.01, wait_s=0.5, wakeup=[True, False])
    assert e[0] - e[1] == pytest.approx(band.wakeup_energy_j)
    assert e[1] == pytest.approx(0.55 * 0.1 + 0.21 * 0.01 + 0.021 * 0.5)


def test_presets_sit_on_their_bands():
    for name in ("nb-iot", "lte-m", "5g-nr", "6g"):
        link = load_link(name)
        snr = preset_snr_db(name)
        assert np.isfinite(snr)
        assert uplink_rate_bps(load_band(link.band), snr) == pytest.approx(link.rate_bps, rel=1e-9)
    built = link_from_band("lte-m", 10.0)
    assert built.band == "lte-m" and built.rtt_s == pytest.approx(0.024)
    assert built.rate_bps == pytest.approx(float(uplink_rate_bps(load_band("lte-m"), 10.0)))


def test_fading_moments():
    rng = np.random.default_rng(0)
    n = 200_000
    ray = sample_fading_power_gain(-np.inf, n, rng)
    ric = sample_fading_power_gain(9.0, n, rng)
    assert ray.mean() == pytest.approx(1.0, abs=0.01) and ric.mean() == pytest.approx(1.0, abs=0.01)
    assert ray.var() == pytest.approx(1.0, abs=0.02)  # exponential(1)
    k = 10**0.9  # Rician power variance (2K+1)/(K+1)^2
    assert ric.var() == pytest.approx((2 * k + 1) / (k + 1) ** 2, abs=0.01)
    assert fading_power_gain(np.inf, np.zeros(2), np.ones(2)) == pytest.approx([1.0, 1.0])
