"""Link budget -> SNR -> rate, and what one exchange costs in time and device radio energy.

- SNR (dB) = P_tx + G_tx + G_rx - PL - SF + 10 log10(|h|^2) - (N0 + 10 log10(B) + NF) - margin,
  with N0 = -174 dBm/Hz (thermal noise at 290 K).
- Rate: the attenuated Shannon bound of Mogensen et al. (VTC 2007-Spring),
  ``rate = share * B * min(eta * log2(1 + SNR_share / gap), se_max)``. Uplink: the device puts its
  whole transmit power into its share of the band, so ``SNR_share = SNR_full / share``; downlink:
  the base station's power spectral density is fixed, so the SNR does not depend on the share.
- Latency of one direction: scheduling (grant) delay + queueing + transmission + propagation.
- Device radio energy of one exchange: wake-up/connection when the radio was asleep, transmit at
  the radio's electrical transmit power, receive the reply at its receive power, and connected-idle
  power while waiting for it.
- Backhaul edge -> cloud: a wired link with a round trip and a rate.
"""

from __future__ import annotations

import numpy as np

from tinylarge.net.bands import Band

THERMAL_NOISE_DBM_PER_HZ = -174.0
SPEED_OF_LIGHT_M_S = 299_792_458.0


def noise_dbm(bandwidth_hz: np.ndarray | float, noise_figure_db: float) -> np.ndarray:
    """Receiver noise power over ``bandwidth_hz``."""
    return THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(bandwidth_hz) + noise_figure_db


def uplink_snr_db(
    band: Band, pathloss_db: np.ndarray, gain_db: np.ndarray | float = 0.0
) -> np.ndarray:
    """Device -> base station SNR over the whole uplink band; ``gain_db`` adds shadowing/fading."""
    return (
        band.ue_tx_power_dbm
        + band.ue_antenna_gain_dbi
        + band.bs_antenna_gain_dbi
        - np.asarray(pathloss_db)
        + gain_db
        - noise_dbm(band.ul_bandwidth_hz, band.bs_noise_figure_db)
        - band.interference_margin_db
    )


def downlink_snr_db(
    band: Band, pathloss_db: np.ndarray, gain_db: np.ndarray | float = 0.0
) -> np.ndarray:
    """Base station -> device SNR over the downlink band."""
    return (
        band.bs_tx_power_dbm
        + band.bs_antenna_gain_dbi
        + band.ue_antenna_gain_dbi
        - np.asarray(pathloss_db)
        + gain_db
        - noise_dbm(band.dl_bandwidth_hz, band.ue_noise_figure_db)
        - band.interference_margin_db
    )


def spectral_efficiency_bps_per_hz(band: Band, snr_db: np.ndarray) -> np.ndarray:
    """``min(eta * log2(1 + SNR / gap), se_max)`` at an SNR over the allotted bandwidth."""
    snr = 10.0 ** ((np.asarray(snr_db, dtype=float) - band.snr_gap_db) / 10.0)
    # log1p: at very low SNR log2(1 + snr) would round to exactly 0 (a zero rate)
    return np.minimum(
        band.bandwidth_efficiency * np.log1p(snr) / np.log(2.0),
        band.max_spectral_efficiency_bps_per_hz,
    )


def uplink_rate_bps(band: Band, snr_db: np.ndarray, share: np.ndarray | float = 1.0) -> np.ndarray:
    """Uplink rate with a ``share`` (0 < share <= 1) of the band; ``snr_db`` over the whole band."""
    share = np.asarray(share, dtype=float)
    return (
        share
        * band.ul_bandwidth_hz
        * spectral_efficiency_bps_per_hz(band, np.asarray(snr_db) - 10.0 * np.log10(share))
    )


def downlink_rate_bps(
    band: Band, snr_db: np.ndarray, share: np.ndarray | float = 1.0
) -> np.ndarray:
    """Downlink rate with a ``share`` of the band (fixed power spectral density)."""
    return (
        np.asarray(share, dtype=float)
        * band.dl_bandwidth_hz
        * spectral_efficiency_bps_per_hz(band, snr_db)
    )


def airtime_s(size_bytes: np.ndarray | float, rate_bps: np.ndarray | float) -> np.ndarray:
    """Seconds to send ``size_bytes`` at ``rate_bps`` (vectorised)."""
    return 8.0 * np.asarray(size_bytes, dtype=float) / np.asarray(rate_bps, dtype=float)


def one_way_latency_s(
    band: Band,
    size_bytes: np.ndarray | float,
    rate_bps: np.ndarray | float,
    distance_m: np.ndarray | float = 0.0,
    queueing_s: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Scheduling + queueing + transmission + propagation for one direction."""
    return (
        band.scheduling_delay_s
        + np.asarray(queueing_s)
        + airtime_s(size_bytes, rate_bps)
        + np.asarray(distance_m) / SPEED_OF_LIGHT_M_S
    )


def radio_energy_j(
    band: Band,
    tx_s: np.ndarray | float,
    rx_s: np.ndarray | float,
    wait_s: np.ndarray | float,
    wakeup: np.ndarray | bool = True,
) -> np.ndarray:
    """Device radio energy of one exchange: wake-up (when asleep) + transmit + receive + waiting."""
    return (
        np.where(wakeup, band.wakeup_energy_j, 0.0)
        + band.ue_tx_electrical_w * np.asarray(tx_s)
        + band.ue_rx_electrical_w * np.asarray(rx_s)
        + band.ue_connected_idle_w * np.asarray(wait_s)
    )


def backhaul_latency_s(size_bytes: np.ndarray | float, rate_bps: float, rtt_s: float) -> np.ndarray:
    """Edge -> cloud -> edge over a wired backhaul: the round trip plus the request's airtime."""
    return rtt_s + airtime_s(size_bytes, rate_bps)


def snr_for_rate_db(band: Band, rate_bps: float) -> float:
    """The whole-band uplink SNR at which the band delivers ``rate_bps`` (inverse of the rate law);
    ``inf`` when the rate is above the band's peak."""
    se = rate_bps / band.ul_bandwidth_hz
    if se > band.max_spectral_efficiency_bps_per_hz:
        return float("inf")
    return float(10.0 * np.log10(2.0 ** (se / band.bandwidth_efficiency) - 1.0) + band.snr_gap_db)
