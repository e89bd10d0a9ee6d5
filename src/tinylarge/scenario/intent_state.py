"""The orchestration settings intents change, and :func:`apply_intent`, a pure function from a
validated change and the current settings to the new settings.

:class:`OrchestrationIntentState` names what each kind changes, in the terms of the layers below it:

- ``latency_slo`` -> ``sla_latency_s``, ``sla_percentile`` (and ``sla_device_class``);
- ``minimise_energy`` / ``maximise_accuracy`` -> the objective's ``energy_weight`` /
  ``error_weight`` (multipliers of the fleet objective's energy and error terms; the latest of the
  two intents sets both), with ``objective_device_class`` and ``objective_window_s``;
- ``offload_budget`` -> ``max_offload_fraction`` (the cascade's offload budget);
- ``data_stays_on_device`` -> ``allowed_patterns`` = local, split, federated;
- ``placement`` -> ``forced_tier``;
- ``canary_rollout`` -> ``canary_fraction`` (``secure.rollout.RolloutPolicy``);
- ``battery_saver`` -> ``battery_saver_below``.

Changes that contradict one in force (raw input may not leave the devices, yet everything should run
in the cloud) are refused with :class:`IntentConflictError`, never applied silently: the operator
resolves them. :mod:`.intent_apply` turns the state into a fleet scenario and a rollout policy.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from tinylarge.errors import TinylargeError
from tinylarge.scenario.intent_kinds import (
    BatterySaver,
    CanaryRollout,
    DataStaysOnDevice,
    LatencySlo,
    MaximiseAccuracy,
    MinimiseEnergy,
    OffloadBudget,
    Placement,
    PolicyChange,
    Tier,
)

# How much more an objective intent weighs its term (a wrong answer already costs as much as
# 1 J of device energy by default; "minimise energy" makes device energy count ten times more).
EMPHASIS = 10.0


class Pattern(StrEnum):
    """How a request may use the network; only the first three keep raw input on the device."""

    LOCAL = "local"  # the device's model answers
    SPLIT = "split"  # the device sends an intermediate activation
    FEDERATED = "federated"  # devices send model updates, never data
    CASCADE = "cascade"  # the device sends the raw input when unsure
    EARLY_EXIT = "early_exit"  # the device sends the raw input past its exit
    OFFLOAD = "offload"  # the raw input goes to a server


PRIVATE_PATTERNS = (Pattern.LOCAL, Pattern.SPLIT, Pattern.FEDERATED)


class IntentConflictError(TinylargeError):
    """A change that contradicts a change in force."""


class OrchestrationIntentState(BaseModel):
    """What the operator's intents have set so far (the defaults: nothing set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sla_latency_s: float | None = Field(None, gt=0)
    sla_percentile: float | None = Field(None, gt=0, le=1)
    sla_device_class: str | None = None
    energy_weight: float = Field(1.0, gt=0)
    error_weight: float = Field(1.0, gt=0)
    objective_device_class: str | None = None
    objective_window_s: float | None = Field(None, gt=0)
    max_offload_fraction: float = Field(1.0, ge=0, le=1)
    allowed_patterns: tuple[Pattern, ...] = tuple(Pattern)
    forced_tier: Tier | None = None
    canary_fraction: float | None = Field(None, gt=0, le=1)
    battery_saver_below: float | None = Field(None, gt=0, lt=1)
    applied: tuple[str, ...] = ()  # the kinds applied, in order

    @property
    def raw_input_may_leave(self) -> bool:
        return any(p not in PRIVATE_PATTERNS for p in self.allowed_patterns)


def apply_intent(
    change: PolicyChange, state: OrchestrationIntentState | None = None
) -> OrchestrationIntentState:
    """The settings after ``change``; raises :class:`IntentConflictError` if it contradicts one
    in force."""
    state = state or OrchestrationIntentState()
    _check_conflicts(change, state)
    update: dict[str, object] = {}
    match change:
        case LatencySlo():
            update = {
                "sla_latency_s": change.target_s,
                "sla_percentile": change.percentile,
                "sla_device_class": change.device_class,
            }
        case MinimiseEnergy():
            update = {
                "energy_weight": EMPHASIS,
                "error_weight": 1.0,
                "objective_device_class": change.device_class,
                "objective_window_s": change.window_s,
            }
        case MaximiseAccuracy():
            update = {
                "energy_weight": 1.0,
                "error_weight": EMPHASIS,
                "objective_device_class": None,
                "objective_window_s": None,
            }
        case OffloadBudget():
            update = {"max_offload_fraction": change.max_offload_fraction}
        case DataStaysOnDevice():
            update = {"allowed_patterns": PRIVATE_PATTERNS}
        case Placement():
            update = {"forced_tier": change.tier}
        case CanaryRollout():
            update = {"canary_fraction": change.fraction}
        case BatterySaver():
            update = {"battery_saver_below": change.battery_below}
    update["applied"] = (*state.applied, change.kind)
    return OrchestrationIntentState.model_validate({**state.model_dump(), **update})


def _check_conflicts(change: PolicyChange, state: OrchestrationIntentState) -> None:
    remote = (Tier.EDGE, Tier.CLOUD)
    if isinstance(change, Placement) and change.tier in remote:
        if not state.raw_input_may_leave:
            raise IntentConflictError(
                f"placement on the {change.tier} sends raw input off the devices, but "
                "data_stays_on_device is in force"
            )
        if state.max_offload_fraction < 1.0:
            raise IntentConflictError(
                f"placement on the {change.tier} offloads every request, but an offload budget "
                f"of {state.max_offload_fraction:g} is in force"
            )
    if state.forced_tier in remote:
        if isinstance(change, DataStaysOnDevice):
            raise IntentConflictError(
                f"data_stays_on_device contradicts placement on the {state.forced_tier} in force"
            )
        if isinstance(change, OffloadBudget) and change.max_offload_fraction < 1.0:
            raise IntentConflictError(
                f"an offload budget of {change.max_offload_fraction:g} contradicts placement on "
                f"the {state.forced_tier} in force"
            )
