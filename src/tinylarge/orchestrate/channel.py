"""One channel draw per request: TR 38.901 path loss, LOS state, shadow fading and fast fading.

Spatial consistency without state: the LOS state and the shadow-fading value of a link are keyed by
(serving site, map tile), tiles being squares of the scenario's shadow-fading decorrelation distance
(TR 38.901 Table 7.5-6). A static device keeps its LOS state and shadowing for the whole run; a
moving one gets new values tile by tile (piecewise constant, where the spec's model decays
exponentially with distance: our approximation). Fast fading is drawn anew per request (requests are
seconds apart, far beyond the coherence time), independently for uplink and downlink: Rician with
the scenario's K-factor in LOS, Rayleigh in NLOS. 2D distances below the table's minimum (10 m
outdoors, 1 m indoors) are raised to it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinylarge.net import (
    Band,
    downlink_snr_db,
    fading_power_gain,
    los_probability,
    pathloss_db,
    scenario_model,
    uplink_snr_db,
)
from tinylarge.net.pathloss import ScenarioModel
from tinylarge.orchestrate import rng

S_LOS, S_SF, S_FAD_UL, S_FAD_DL = 20, 21, 22, 23


@dataclass(frozen=True)
class ChannelModel:
    band: Band
    model: ScenarioModel
    h_bs_m: float
    h_ut_m: float

    @classmethod
    def of(cls, band: Band, scenario: str | None, h_ut_m: float | None) -> ChannelModel:
        model = scenario_model(scenario or band.channel_scenario)
        h_bs = min(max(band.h_bs_m, model.h_bs_range_m[0]), model.h_bs_range_m[1])
        return cls(band, model, h_bs, model.h_ut_default_m if h_ut_m is None else h_ut_m)


@dataclass
class ChannelDraw:
    ul_snr_db: np.ndarray  # whole-band uplink SNR
    dl_snr_db: np.ndarray
    los: np.ndarray
    distance_3d_m: np.ndarray


def draw(
    ch: ChannelModel,
    seed: int,
    site: np.ndarray,
    x_m: np.ndarray,
    y_m: np.ndarray,
    d2_m: np.ndarray,
    key: np.ndarray,
) -> ChannelDraw:
    """The channel of each request (``key``: request keys) to its serving ``site``."""
    m = ch.model
    d2 = np.maximum(d2_m, m.min_distance_2d_m)
    d3 = np.sqrt(d2 * d2 + (ch.h_bs_m - ch.h_ut_m) ** 2)
    tile_m = m.sf_corr_los_m
    tile = rng.combine(site, (x_m / tile_m).astype(np.int64), (y_m / tile_m).astype(np.int64))
    los = rng.uniform(seed, S_LOS, tile) < los_probability(m.name, d2, ch.h_ut_m, ch.h_bs_m)
    sigma = np.where(los, m.sf_los_db, m.sf_nlos_db)
    shadow_db = sigma * rng.normal_pair(seed, S_SF, tile)[0]
    pl = pathloss_db(m.name, d3, ch.band.fc_ghz, los, ch.h_bs_m, ch.h_ut_m) + shadow_db
    k_db = np.where(los, m.k_factor_db, -np.inf)
    g_ul = fading_power_gain(k_db, *rng.normal_pair(seed, S_FAD_UL, key))
    g_dl = fading_power_gain(k_db, *rng.normal_pair(seed, S_FAD_DL, key))
    return ChannelDraw(
        ul_snr_db=uplink_snr_db(ch.band, pl, 10.0 * np.log10(g_ul)),
        dl_snr_db=downlink_snr_db(ch.band, pl, 10.0 * np.log10(g_dl)),
        los=los,
        distance_3d_m=d3,
    )
