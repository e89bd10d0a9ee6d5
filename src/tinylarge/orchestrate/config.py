"""The fleet scenario: a YAML file (or a bundled one by name) validated into :class:`FleetScenario`.

Bad input gets one line naming the bad value and listing the valid ones: an unknown band, channel
scenario, device or policy, a band whose carrier is outside the channel model's validity range, or
a field out of range (``devices.n: must be greater than 0, got -5``).
"""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tinylarge.errors import TinylargeError, UnknownNameError

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ArrivalKind(StrEnum):
    POISSON = "poisson"
    PERIODIC = "periodic"
    BURSTY = "bursty"


class Arrivals(BaseModel):
    """Request arrivals per device. ``bursty``: each region alternates quiet and burst periods
    (exponential durations) with a rate ``burst_factor`` times higher in bursts, the mean rate
    staying ``1 / mean_interval_s`` (a two-state Markov-modulated Poisson process)."""

    model_config = _FROZEN
    kind: ArrivalKind = ArrivalKind.POISSON
    mean_interval_s: float = Field(10.0, gt=0)
    jitter_s: float = Field(0.0, ge=0, description="periodic: normal jitter of each arrival")
    burst_factor: float = Field(5.0, ge=1)
    burst_on_s: float = Field(10.0, gt=0)
    burst_off_s: float = Field(50.0, gt=0)


class Mobility(BaseModel):
    """Fractions of devices that walk or drive (the rest are static), random direction, reflected
    at the region's edge."""

    model_config = _FROZEN
    pedestrian_fraction: float = Field(0.2, ge=0, le=1)
    vehicle_fraction: float = Field(0.1, ge=0, le=1)
    pedestrian_speed_m_s: float = Field(1.4, ge=0)
    vehicle_speed_m_s: float = Field(10.0, ge=0)

    @model_validator(mode="after")
    def _fractions(self) -> Mobility:
        if self.pedestrian_fraction + self.vehicle_fraction > 1:
            raise ValueError("pedestrian_fraction + vehicle_fraction must be <= 1")
        return self


class Devices(BaseModel):
    model_config = _FROZEN
    n: int = Field(gt=0)
    mix: dict[str, float] = Field(default_factory=lambda: {"nrf52840": 1.0})
    mobility: Mobility = Mobility()
    arrivals: Arrivals = Arrivals()

    @field_validator("mix")
    @classmethod
    def _known_devices(cls, mix: dict[str, float]) -> dict[str, float]:
        from tinylarge.tiny.devices import list_devices, load_device

        mcus = [d for d in list_devices() if load_device(d).is_mcu]
        for name, weight in mix.items():
            if name not in mcus:
                raise UnknownNameError("device (microcontroller)", name, mcus)
            if weight < 0:
                raise ValueError(f"mix weight of {name} must be >= 0, got {weight}")
        if not mix or sum(mix.values()) <= 0:
            raise ValueError("mix needs at least one device with a positive weight")
        return mix


class Network(BaseModel):
    """Cells on a square grid: ``sites_per_side**2`` edge sites ``isd_m`` apart per region; the
    fleet is tiled into regions of ``devices_per_region`` devices (the unit of sharding)."""

    model_config = _FROZEN
    band: str = "nr-fr1"
    slice_fraction: float = Field(
        1.0, gt=0, le=1, description="share of the band's bandwidth this fleet's slice gets"
    )
    channel_scenario: str | None = None  # default: the band's
    isd_m: float = Field(200.0, gt=0)
    sites_per_side: int = Field(2, ge=1)
    devices_per_region: int = Field(1000, gt=0)
    h_ut_m: float | None = None  # default: the channel scenario's

    @field_validator("band")
    @classmethod
    def _known_band(cls, band: str) -> str:
        from tinylarge.net import load_band

        load_band(band)
        return band

    @model_validator(mode="after")
    def _channel_valid_for_band(self) -> Network:
        from tinylarge.net import load_band, scenario_model

        band = load_band(self.band)
        model = scenario_model(self.channel_scenario or band.channel_scenario)
        lo, hi = model.fc_range_ghz
        if not lo <= band.fc_ghz <= hi:
            raise TinylargeError(
                f"band {self.band} at fc_ghz {band.fc_ghz:g} is outside the {model.name} model's "
                f"validity range {lo:g}-{hi:g} GHz; models valid there: "
                + ", ".join(_models_covering(band.fc_ghz))
            )
        return self


def _models_covering(fc_ghz: float) -> list[str]:
    from tinylarge.net.pathloss import MODELS

    return [n for n, m in MODELS.items() if m.fc_range_ghz[0] <= fc_ghz <= m.fc_range_ghz[1]]


class Server(BaseModel):
    """A LargeML server: a catalog device, ``n_units`` of them pooled as one faster FIFO queue,
    and a fixed serving overhead per request (decode, pre/post-processing, response)."""

    model_config = _FROZEN
    device: str
    n_units: float = Field(1.0, gt=0)
    overhead_s: float = Field(0.002, ge=0)

    @field_validator("device")
    @classmethod
    def _known(cls, name: str) -> str:
        from tinylarge.tiny.devices import list_devices, load_device

        servers = [d for d in list_devices() if not load_device(d).is_mcu]
        if name not in servers:
            raise UnknownNameError("server device", name, servers)
        return name


class Backhaul(BaseModel):
    model_config = _FROZEN
    rtt_s: float = Field(0.030, ge=0)
    rate_bps: float = Field(1e9, gt=0)


class Objective(BaseModel):
    """What every policy is scored on (lower is better), per request:
    ``energy_j / energy_scale_j + error_weight * wrong + sla_weight * (latency > sla_latency_s)``.

    The defaults, fixed before any policy was tuned: a wrong answer costs as much as 1 J of device
    energy (a thousand local inferences on a Cortex-M4), a late one as much as 100 mJ, and energy
    counts in millijoules."""

    model_config = _FROZEN
    energy_scale_j: float = Field(1e-3, gt=0)
    error_weight: float = Field(1000.0, ge=0)
    sla_weight: float = Field(100.0, ge=0)


class FleetScenario(BaseModel):
    """Everything one fleet simulation needs."""

    model_config = _FROZEN
    name: str = "scenario"
    description: str = ""
    seed: int = 0
    duration_s: float = Field(600.0, gt=0)
    slot_s: float = Field(0.1, gt=0, description="decision and uplink-scheduling frame")
    devices: Devices
    network: Network = Network()
    edge: Server = Server(device="jetson-orin-nano")
    cloud: Server = Server(device="a100", n_units=8.0)
    backhaul: Backhaul = Backhaul()
    sla_latency_s: float = Field(0.5, gt=0)
    objective: Objective = Objective()
    policies: list[str] = Field(default_factory=lambda: ["all-local", "cascade-threshold", "joint"])
    policy_params: dict[str, dict[str, float]] = Field(default_factory=dict)
    overhead_bytes: int = Field(60, ge=0, description="IP/UDP/CoAP headers per message")
    reply_bytes: int = Field(4, ge=1, description="the LargeML answer (class id + confidence)")
    dataset: str = "mnist5k"

    @field_validator("policies")
    @classmethod
    def _known_policies(cls, names: list[str]) -> list[str]:
        from tinylarge.orchestrate.policies import policy_names

        for name in names:
            if name not in policy_names():
                raise UnknownNameError("policy", name, policy_names())
        if not names:
            raise ValueError("policies: name at least one")
        return names

    @model_validator(mode="after")
    def _known_params(self) -> FleetScenario:
        from tinylarge.orchestrate.policies import make_policy, policy_names

        for name, params in self.policy_params.items():
            if name not in policy_names():
                raise UnknownNameError("policy (in policy_params)", name, policy_names())
            make_policy(name, **params)  # unknown parameters fail here, naming the valid ones
        return self

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from tinylarge.data.registry import dataset_names

        names = dataset_names()
        if name not in names:
            raise UnknownNameError("dataset", name, names)
        return name

    def band(self):
        """The band as this fleet sees it: its slice of the uplink and downlink bandwidth."""
        from tinylarge.net import load_band

        band = load_band(self.network.band)
        f = self.network.slice_fraction
        return band.model_copy(
            update={
                "ul_bandwidth_hz": f * band.ul_bandwidth_hz,
                "dl_bandwidth_hz": f * band.dl_bandwidth_hz,
            }
        )

    def with_overrides(self, **changes: Any) -> FleetScenario:
        """A validated copy with top-level or dotted (``devices.n``) fields replaced."""
        data = self.model_dump()
        for key, value in changes.items():
            node = data
            *path, last = key.split(".")
            for part in path:
                node = node[part]
            node[last] = value
        return parse_scenario(data, f"{self.name} (overridden)")


def parse_scenario(data: Any, source: str) -> FleetScenario:
    """Validate a mapping into a :class:`FleetScenario`; errors become one line naming the value."""
    if not isinstance(data, dict):
        raise TinylargeError(f"{source}: a fleet scenario must be a YAML mapping")
    try:
        return FleetScenario(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "scenario"
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f", got {got!r}"
        raise TinylargeError(f"{source}: {where}: {err['msg']}{shown}") from None


def load_scenario(path: str | Path) -> FleetScenario:
    """Read and validate a scenario YAML file."""
    path = Path(path)
    if not path.is_file():
        raise TinylargeError(f"scenario file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TinylargeError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_scenario(data, str(path))


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``orchestrate/scenarios/``."""
    root = resources.files("tinylarge.orchestrate").joinpath("scenarios")
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


def load_bundled(name: str) -> FleetScenario:
    """A bundled scenario by name; an unknown name lists the valid ones."""
    if name not in bundled_scenarios():
        raise UnknownNameError("bundled scenario", name, bundled_scenarios())
    root = resources.files("tinylarge.orchestrate").joinpath("scenarios")
    return parse_scenario(yaml.safe_load(root.joinpath(f"{name}.yaml").read_text()), name)
