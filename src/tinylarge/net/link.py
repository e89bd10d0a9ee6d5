"""Link arithmetic for offloading: time on air, transfer latency and radio energy of one message.

A first-order model (fixed sustained rate, fixed round trip, constant transmit power) that later
roadmap items replace by 3GPP TR 38.901 channels and scheduling; the function names stay.
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
