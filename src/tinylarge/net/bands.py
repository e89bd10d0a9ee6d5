"""Radio bands as data: ``net/bands.yaml`` holds one row per carrier (NB-IoT ... sub-THz), each
value with its source or marked as an assumption; :func:`load_band` validates a row into a
:class:`Band`."""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.net.pathloss import scenario_model


class Band(BaseModel):
    """One carrier as an IoT device sees it (the header of ``bands.yaml`` states the link model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    fc_ghz: float = Field(gt=0)
    ul_bandwidth_hz: float = Field(gt=0)
    dl_bandwidth_hz: float = Field(gt=0)
    subcarrier_spacing_hz: float = Field(gt=0)
    scheduling_delay_s: float = Field(ge=0)
    ue_tx_power_dbm: float
    bs_tx_power_dbm: float
    ue_noise_figure_db: float = Field(ge=0)
    bs_noise_figure_db: float = Field(ge=0)
    ue_antenna_gain_dbi: float
    bs_antenna_gain_dbi: float
    interference_margin_db: float = Field(ge=0)
    bandwidth_efficiency: float = Field(gt=0, le=1)
    snr_gap_db: float = Field(ge=0)
    max_spectral_efficiency_bps_per_hz: float = Field(gt=0)
    ue_tx_electrical_w: float = Field(ge=0)
    ue_rx_electrical_w: float = Field(ge=0)
    ue_connected_idle_w: float = Field(ge=0)
    connected_tail_s: float = Field(ge=0)
    wakeup_latency_s: float = Field(ge=0)
    wakeup_energy_j: float = Field(ge=0)
    channel_scenario: str
    h_bs_m: float = Field(gt=0)

    @property
    def numerology(self) -> int:
        """NR numerology mu: subcarrier spacing = 15 kHz * 2**mu."""
        return max(0, round(math.log2(self.subcarrier_spacing_hz / 15e3)))


@cache
def _bands() -> dict[str, Band]:
    text = resources.files("tinylarge.net").joinpath("bands.yaml").read_text()
    bands = {}
    for name, row in yaml.safe_load(text).items():
        try:
            band = Band(name=name, **row)
        except (TypeError, ValueError) as exc:
            raise TinylargeError(f"invalid band {name!r} in bands.yaml: {exc}") from None
        model = scenario_model(band.channel_scenario)  # fails loudly on a bad scenario name
        lo, hi = model.fc_range_ghz
        if not lo <= band.fc_ghz <= hi:
            raise TinylargeError(
                f"band {name!r}: fc_ghz {band.fc_ghz:g} is outside {model.name}'s range "
                f"{lo:g}-{hi:g}"
            )
        bands[name] = band
    return bands


def list_bands() -> list[str]:
    """Band names, lowest carrier frequency first."""
    return sorted(_bands(), key=lambda n: _bands()[n].fc_ghz)


def load_band(name: str) -> Band:
    """The named band; an unknown name lists the valid ones."""
    try:
        return _bands()[name]
    except KeyError:
        raise UnknownNameError("band", name, _bands()) from None
