"""Intent settings -> what the layers below run: a fleet scenario (``orchestrate``) and a rollout
policy (``secure.rollout``), plus whether a latency SLO was met in a fleet run.

The fleet simulator expresses most settings directly; what it cannot express is approximated the
way each note in :class:`FleetTranslation` says, never dropped silently:

- a latency SLO becomes the scenario's deadline (``sla_latency_s``) and a late answer is priced
  like a wrong one (``sla_weight`` raised to ``error_weight``); the percentile is checked on the
  run's latency histogram (:func:`slo_attainment`). The simulator has one deadline for all devices,
  so an SLO for one device class is applied fleet-wide.
- objective weights scale the energy term (``energy_scale_j`` divided) and the error term
  (``error_weight`` multiplied).
- an offload budget keeps the policies that honour one (``all-local``; ``cascade-threshold`` with
  its ``max_offload_fraction``); a forced tier runs the matching fixed policy; data-on-device keeps
  ``all-local`` and ``split-optimal`` without its raw-input cut, and the closed loop
  (:func:`~.policy.apply_change`) makes its model updates by federated rounds, not re-distillation
  on offloaded inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinylarge.orchestrate.config import FleetScenario
from tinylarge.orchestrate.run import FleetResult
from tinylarge.scenario.intent_kinds import Tier
from tinylarge.scenario.intent_state import OrchestrationIntentState
from tinylarge.secure.rollout import RolloutPolicy

TIER_POLICY = {Tier.DEVICE: "all-local", Tier.EDGE: "all-edge", Tier.CLOUD: "all-cloud"}
BUDGET_POLICIES = ("all-local", "cascade-threshold")  # policies that can honour an offload budget
PRIVATE_POLICIES = ("all-local", "split-optimal")  # policies that can keep raw input on the device


@dataclass(frozen=True)
class FleetTranslation:
    scenario: FleetScenario
    notes: tuple[str, ...]  # what was approximated or left to the closed loop


def fleet_scenario_for(state: OrchestrationIntentState, base: FleetScenario) -> FleetTranslation:
    """``base`` with the intent settings applied (a validated copy)."""
    notes: list[str] = []
    objective = base.objective
    changes: dict[str, Any] = {
        "objective.energy_scale_j": objective.energy_scale_j / state.energy_weight,
        "objective.error_weight": objective.error_weight * state.error_weight,
    }
    if state.sla_latency_s is not None:
        changes["sla_latency_s"] = state.sla_latency_s
        changes["objective.sla_weight"] = max(objective.sla_weight, objective.error_weight)
        notes.append(
            f"latency SLO: deadline {state.sla_latency_s:g} s for every request, a late answer "
            f"priced like a wrong one; p{100 * (state.sla_percentile or 0.99):g} is checked on "
            "the latency histogram"
        )
        if state.sla_device_class:
            notes.append(
                f"latency SLO for {state.sla_device_class}: the fleet simulator has one deadline, "
                "applied to every device"
            )
    if state.objective_device_class:
        notes.append(
            f"objective for {state.objective_device_class}: the fleet objective has one set of "
            "weights, applied to every device"
        )
    if state.objective_window_s:
        notes.append(
            f"objective window {state.objective_window_s:g} s: the closed loop ends it; the "
            "scenario holds the weights"
        )
    policies = list(base.policies)
    params = {name: dict(p) for name, p in base.policy_params.items()}
    if state.forced_tier is not None:
        policies = [TIER_POLICY[state.forced_tier]]
    if not state.raw_input_may_leave:
        policies = [p for p in policies if p in PRIVATE_POLICIES] or ["all-local"]
        if "split-optimal" in policies:
            params["split-optimal"] = {**params.get("split-optimal", {}), "keep_raw_input": 1.0}
        notes.append(
            "data on device: the closed loop's model updates become federated rounds (only "
            "weights leave a device; loop.update federated)"
        )
    if state.max_offload_fraction < 1.0:
        policies = [p for p in policies if p in BUDGET_POLICIES] or ["cascade-threshold"]
        if "cascade-threshold" in policies:
            params["cascade-threshold"] = {
                **params.get("cascade-threshold", {}),
                "max_offload_fraction": state.max_offload_fraction,
            }
    dropped = [p for p in base.policies if p not in policies]
    if dropped:
        notes.append(f"policies that cannot honour the intents left out: {', '.join(dropped)}")
    if state.canary_fraction is not None:
        notes.append("canary fraction: applies to rollouts (rollout_policy_for)")
    if state.battery_saver_below is not None:
        notes.append("battery saver: the fleet simulator models no batteries; the closed loop does")
    changes["policies"] = policies
    changes["policy_params"] = params
    return FleetTranslation(base.with_overrides(**changes), tuple(notes))


def rollout_policy_for(
    state: OrchestrationIntentState, base: RolloutPolicy | None = None
) -> RolloutPolicy:
    """``base`` (default thresholds if none) with the intents' canary fraction."""
    base = base or RolloutPolicy()
    if state.canary_fraction is None:
        return base
    return base.model_copy(update={"canary_fraction": state.canary_fraction})


def latency_at_percentile_s(result: FleetResult, policy: str, percentile: float) -> float:
    """The ``percentile`` (0.99 = p99, 1.0 = slowest) of ``policy``'s end-to-end latency, from
    the run's log-spaced histogram (within 0.3 %, :mod:`tinylarge.orchestrate.metrics`)."""
    from tinylarge.orchestrate.metrics import bin_centre_s

    hist = result.metrics[policy].hist
    cdf = np.cumsum(hist) / max(int(hist.sum()), 1)
    return bin_centre_s(int(np.searchsorted(cdf, percentile - 1e-12)))


def slo_attainment(
    result: FleetResult, policy: str, state: OrchestrationIntentState
) -> dict[str, Any] | None:
    """Whether ``policy`` met the latency SLO in force (``None`` when there is none)."""
    if state.sla_latency_s is None:
        return None
    q = state.sla_percentile or 0.99
    latency = latency_at_percentile_s(result, policy, q)
    return {
        "percentile": q,
        "target_s": state.sla_latency_s,
        "latency_s": latency,
        "met": latency <= state.sla_latency_s,
    }
