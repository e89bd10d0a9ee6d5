"""Link arithmetic for offloading: time on air, transfer latency and radio energy of one message.

A first-order model (fixed sustained rate, fixed round trip, constant transmit power). The named
profiles in ``links.yaml`` are presets on top of the bands of ``bands.yaml``: a cellular preset is
its band at the SNR where the band delivers the preset's rate (:func:`preset_snr_db`), and
:func:`link_from_band` builds a profile from a band at any SNR, for callers that cost one message at
a time. The fleet simulator (``tinylarge.orchestrate``) uses the per-request channel instead.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tinylarge.errors import UnknownNameError


class LinkProfile(BaseModel):
    """One uplink technology: sustained rate, round trip and the radio's transmit power draw."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    rate_bps: float = Field(gt=0)
    rtt_s: float = Field(ge=0)
    tx_power_w: float = Field(ge=0)
    overhead_bytes: int = Field(0, ge=0)
    band: str | None = None


def airtime_s(size_bytes: float, rate_bps: float) -> float:
    """Seconds to push ``size_bytes`` through a link of ``rate_bps``."""
    if rate_bps <= 0:
        raise ValueError(f"rate_bps must be > 0, got {rate_bps}")
    return 8.0 * size_bytes / rate_bps


def transfer_latency_s(size_bytes: float, link: LinkProfile) -> float:
    """Request-response latency of sending ``size_bytes`` up (payload + headers) and a tiny reply.

    The reply (a class id or a few logits) is small enough that only the round trip counts.
    """
    return airtime_s(size_bytes + link.overhead_bytes, link.rate_bps) + link.rtt_s


def transfer_energy_j(size_bytes: float, link: LinkProfile) -> float:
    """Radio energy of transmitting ``size_bytes`` (+ headers) at the link's transmit power.

    Waiting for the reply is charged at sleep power by the caller, not here.
    """
    return link.tx_power_w * airtime_s(size_bytes + link.overhead_bytes, link.rate_bps)


@cache
def _links() -> dict[str, LinkProfile]:
    text = resources.files("tinylarge.net").joinpath("links.yaml").read_text()
    return {name: LinkProfile(name=name, **row) for name, row in yaml.safe_load(text).items()}


def list_links() -> list[str]:
    """Link names, slowest first."""
    return sorted(_links(), key=lambda n: _links()[n].rate_bps)


def load_link(name: str) -> LinkProfile:
    """The named link profile; an unknown name lists the valid ones."""
    try:
        return _links()[name]
    except KeyError:
        raise UnknownNameError("link", name, _links()) from None


def preset_snr_db(name: str) -> float:
    """The whole-band uplink SNR at which a cellular preset's band delivers the preset's rate."""
    from tinylarge.errors import TinylargeError
    from tinylarge.net.bands import load_band
    from tinylarge.net.radio import snr_for_rate_db

    link = load_link(name)
    if link.band is None:
        raise TinylargeError(f"link {name!r} is not a preset on a cellular band")
    return snr_for_rate_db(load_band(link.band), link.rate_bps)


def link_from_band(
    band_name: str, snr_db: float, share: float = 1.0, overhead_bytes: int = 60
) -> LinkProfile:
    """A fixed-rate profile for a band at an uplink SNR (whole band) and a share of its bandwidth.

    The round trip is one uplink grant plus one downlink scheduling delay; the transmit power is
    the device radio's electrical power while transmitting.
    """
    from tinylarge.net.bands import load_band
    from tinylarge.net.radio import uplink_rate_bps

    band = load_band(band_name)
    return LinkProfile(
        name=f"{band_name}@{snr_db:g}dB",
        description=f"{band.description} at {snr_db:g} dB uplink SNR, share {share:g}",
        rate_bps=float(uplink_rate_bps(band, snr_db, share)),
        rtt_s=2.0 * band.scheduling_delay_s,
        tx_power_w=band.ue_tx_electrical_w,
        overhead_bytes=overhead_bytes,
        band=band_name,
    )
