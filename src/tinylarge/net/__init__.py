"""6G radio and links: bands as data (``bands.yaml``), the 3GPP TR 38.901 large-scale channel (path
loss, LOS probability, shadow fading), Rayleigh/Rician fading, the link budget -> SNR -> rate law,
latency and device radio energy, and the fixed-rate link presets (``links.yaml``) that
single-message costing (cascade, split) uses.

Depends on nothing else in tinylarge but ``errors``.
"""

from tinylarge.net.bands import Band, list_bands, load_band
from tinylarge.net.fading import fading_power_gain, sample_fading_power_gain
from tinylarge.net.link import (
    LinkProfile,
    airtime_s,
    link_from_band,
    list_links,
    load_link,
    preset_snr_db,
    transfer_energy_j,
    transfer_latency_s,
)
from tinylarge.net.pathloss import (
    los_probability,
    pathloss_db,
    scenario_model,
    scenario_names,
    shadow_fading_sigma_db,
)
from tinylarge.net.radio import (
    backhaul_latency_s,
    downlink_rate_bps,
    downlink_snr_db,
    one_way_latency_s,
    radio_energy_j,
    uplink_rate_bps,
    uplink_snr_db,
)

__all__ = [
    "Band",
    "LinkProfile",
    "airtime_s",
    "backhaul_latency_s",
    "downlink_rate_bps",
    "downlink_snr_db",
    "fading_power_gain",
    "link_from_band",
    "list_bands",
    "list_links",
    "load_band",
    "load_link",
    "los_probability",
    "one_way_latency_s",
    "pathloss_db",
    "preset_snr_db",
    "radio_energy_j",
    "sample_fading_power_gain",
    "scenario_model",
    "scenario_names",
    "shadow_fading_sigma_db",
    "transfer_energy_j",
    "transfer_latency_s",
    "uplink_rate_bps",
    "uplink_snr_db",
]
