"""The eight policy changes an operator's intent can map to: one frozen pydantic model per kind.

A change is valid or it does not exist: fractions in range, a positive latency target, a device
class from the catalog (a device name or a kind such as ``mcu``). The validators' messages are what
a refused intent reports as its reason, so they name the bad value and the valid range.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class IntentKind(StrEnum):
    LATENCY_SLO = "latency_slo"
    MINIMISE_ENERGY = "minimise_energy"
    MAXIMISE_ACCURACY = "maximise_accuracy"
    OFFLOAD_BUDGET = "offload_budget"
    DATA_STAYS_ON_DEVICE = "data_stays_on_device"
    PLACEMENT = "placement"
    CANARY_ROLLOUT = "canary_rollout"
    BATTERY_SAVER = "battery_saver"


class Tier(StrEnum):
    DEVICE = "device"
    EDGE = "edge"
    CLOUD = "cloud"


@cache
def device_classes() -> tuple[str, ...]:
    """What ``device_class`` may name: every catalog device and every catalog kind."""
    from typing import get_args

    from tinylarge.tiny.devices import DeviceKind, list_devices

    return (*list_devices(), *get_args(DeviceKind))


def _device_class(name: str | None) -> str | None:
    if name is not None and name not in device_classes():
        valid = ", ".join(device_classes())
        raise ValueError(f"device_class {name!r} is not in the catalog; valid: {valid}")
    return name


class LatencySlo(BaseModel):
    """The ``percentile`` of end-to-end latency stays at or below ``target_s``."""

    model_config = _FROZEN
    kind: Literal["latency_slo"] = "latency_slo"
    percentile: float = Field(gt=0, le=1, description="0.99 = p99; 1.0 = every request")
    target_s: float = Field(gt=0)
    device_class: str | None = None

    _known = field_validator("device_class")(_device_class)


class MinimiseEnergy(BaseModel):
    """Weight device energy up in the objective (for ``window_s`` seconds from now, if given)."""

    model_config = _FROZEN
    kind: Literal["minimise_energy"] = "minimise_energy"
    device_class: str | None = None
    window_s: float | None = Field(None, gt=0)

    _known = field_validator("device_class")(_device_class)


class MaximiseAccuracy(BaseModel):
    """Weight wrong answers up in the objective."""

    model_config = _FROZEN
    kind: Literal["maximise_accuracy"] = "maximise_accuracy"


class OffloadBudget(BaseModel):
    """At most ``max_offload_fraction`` of requests leave the device for a server."""

    model_config = _FROZEN
    kind: Literal["offload_budget"] = "offload_budget"
    max_offload_fraction: float = Field(ge=0, le=1)


class DataStaysOnDevice(BaseModel):
    """No raw input leaves a device: only local, split (activations) or federated (updates)."""

    model_config = _FROZEN
    kind: Literal["data_stays_on_device"] = "data_stays_on_device"


class Placement(BaseModel):
    """Every request runs on one tier."""

    model_config = _FROZEN
    kind: Literal["placement"] = "placement"
    tier: Tier


class CanaryRollout(BaseModel):
    """New models go to ``fraction`` of the fleet first (the canaries), then to everyone."""

    model_config = _FROZEN
    kind: Literal["canary_rollout"] = "canary_rollout"
    fraction: float = Field(gt=0, le=1)


class BatterySaver(BaseModel):
    """Devices whose battery is below ``battery_below`` (a fraction of full) save power."""

    model_config = _FROZEN
    kind: Literal["battery_saver"] = "battery_saver"
    battery_below: float = Field(gt=0, lt=1)


PolicyChange = Annotated[
    LatencySlo
    | MinimiseEnergy
    | MaximiseAccuracy
    | OffloadBudget
    | DataStaysOnDevice
    | Placement
    | CanaryRollout
    | BatterySaver,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[PolicyChange] = TypeAdapter(PolicyChange)

# What the reply shows next to each kind (a refused intent lists its closest kinds this way).
EXAMPLES = {
    IntentKind.LATENCY_SLO: "keep p99 latency under 50 ms",
    IntentKind.MINIMISE_ENERGY: "minimise energy on the nrf52840 for the next 2 hours",
    IntentKind.MAXIMISE_ACCURACY: "maximise accuracy",
    IntentKind.OFFLOAD_BUDGET: "offload at most 10% of requests",
    IntentKind.DATA_STAYS_ON_DEVICE: "raw data must never leave the devices",
    IntentKind.PLACEMENT: "run all inference on the edge",
    IntentKind.CANARY_ROLLOUT: "roll out new models to 5% of devices first",
    IntentKind.BATTERY_SAVER: "battery saver below 20% charge",
}


def make_change(kind: IntentKind | str, params: dict[str, Any]) -> PolicyChange:
    """The validated change of ``kind``; a bad parameter raises pydantic's ``ValidationError``."""
    return _ADAPTER.validate_python({"kind": str(kind), **params})


def change_params(change: PolicyChange) -> dict[str, Any]:
    """The parameters of a change as JSON-ready values (unset optional ones left out)."""
    return change.model_dump(mode="json", exclude={"kind"}, exclude_none=True)
