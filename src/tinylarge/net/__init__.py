"""6G radio and links. For now: named uplink profiles (NB-IoT ... 6G) and the pure link arithmetic
(airtime, latency, radio energy) that offloading and split computing are costed with.

Depends on nothing else in tinylarge but ``errors``.
"""

from tinylarge.net.link import (
    LinkProfile,
    airtime_s,
    list_links,
    load_link,
    transfer_energy_j,
    transfer_latency_s,
)

__all__ = [
    "LinkProfile",
    "airtime_s",
    "list_links",
    "load_link",
    "transfer_energy_j",
    "transfer_latency_s",
]
