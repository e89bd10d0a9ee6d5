"""Link arithmetic: hand-computed airtime, latency and energy; profiles ordered by rate."""

import pytest

from tinylarge.errors import UnknownNameError
from tinylarge.net import (
    LinkProfile,
    airtime_s,
    list_links,
    load_link,
    transfer_energy_j,
    transfer_latency_s,
)


def test_airtime_is_bits_over_rate():
    assert airtime_s(1000, 8000) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rate_bps must be > 0, got 0"):
        airtime_s(1, 0)


def test_latency_and_energy_by_hand():
    link = LinkProfile(
        name="x", description="", rate_bps=1e6, rtt_s=0.01, tx_power_w=0.5, overhead_bytes=25
    )
    # 784 B + 25 B headers = 6472 bits at 1 Mb/s = 6.472 ms on air
    assert transfer_latency_s(784, link) == pytest.approx(0.006472 + 0.01)
    assert transfer_energy_j(784, link) == pytest.approx(0.5 * 0.006472)


def test_catalog_spans_nbiot_to_6g():
    names = list_links()
    assert names[0] == "nb-iot" and names[-1] == "6g"
    rates = [load_link(n).rate_bps for n in names]
    assert rates == sorted(rates)


def test_unknown_link_lists_valid_ones():
    with pytest.raises(UnknownNameError, match="unknown link 'lora'; valid: 5g-nr, 6g"):
        load_link("lora")
