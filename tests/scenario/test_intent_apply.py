"""Intent settings -> fleet scenario and rollout policy, and the direction of each change's effect
in a fleet simulation (the orchestrate tests' small seeded workload)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tinylarge.orchestrate.actions import CASCADE_CLOUD, CASCADE_EDGE, CUT0_EDGE, cut0_cloud
from tinylarge.orchestrate.config import parse_scenario
from tinylarge.orchestrate.run import simulate
from tinylarge.orchestrate.simulator import simulate_shard
from tinylarge.scenario.intent_apply import (
    fleet_scenario_for,
    latency_at_percentile_s,
    rollout_policy_for,
    slo_attainment,
)
from tinylarge.scenario.intent_kinds import make_change
from tinylarge.scenario.intent_state import OrchestrationIntentState, apply_intent
from tinylarge.secure.rollout import RolloutPolicy

_spec = importlib.util.spec_from_file_location(
    "orchestrate_conftest", Path(__file__).parents[1] / "orchestrate" / "conftest.py"
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
make_workload = _module.make_workload

POLICIES = ["all-local", "cascade-threshold", "split-optimal", "joint"]


@pytest.fixture(scope="module")
def workload():
    return make_workload()


@pytest.fixture(scope="module")
def base():
    return parse_scenario(
        {
            "name": "t",
            "duration_s": 30,
            "devices": {
                "n": 1000,
                "mix": {"nrf52840": 1, "esp32s3": 1, "stm32h7a3": 1, "rp2040": 1},
                "arrivals": {"mean_interval_s": 5},
            },
            "network": {"isd_m": 200, "sites_per_side": 2, "devices_per_region": 500},
            "edge": {"device": "rpi4"},
            "policies": POLICIES,
        },
        "test",
    )


def state_of(*changes):
    state = OrchestrationIntentState()
    for kind, params in changes:
        state = apply_intent(make_change(kind, params), state)
    return state


def test_no_intent_changes_nothing(base):
    translation = fleet_scenario_for(OrchestrationIntentState(), base)
    assert translation.scenario.model_dump() == base.with_overrides().model_dump()
    assert translation.notes == ()


def test_what_the_scenario_gets(base):
    slo = fleet_scenario_for(state_of(("latency_slo", {"percentile": 0.9, "target_s": 0.05})), base)
    assert slo.scenario.sla_latency_s == 0.05
    assert slo.scenario.objective.sla_weight == base.objective.error_weight
    energy = fleet_scenario_for(state_of(("minimise_energy", {})), base).scenario
    assert energy.objective.energy_scale_j == pytest.approx(base.objective.energy_scale_j / 10)
    accuracy = fleet_scenario_for(state_of(("maximise_accuracy", {})), base).scenario
    assert accuracy.objective.error_weight == pytest.approx(base.objective.error_weight * 10)
    budget = fleet_scenario_for(state_of(("offload_budget", {"max_offload_fraction": 0.1})), base)
    assert budget.scenario.policies == ["all-local", "cascade-threshold"]
    assert budget.scenario.policy_params == {"cascade-threshold": {"max_offload_fraction": 0.1}}
    assert any("left out: split-optimal, joint" in n for n in budget.notes)
    for tier, policy in (("device", "all-local"), ("edge", "all-edge"), ("cloud", "all-cloud")):
        placed = fleet_scenario_for(state_of(("placement", {"tier": tier})), base).scenario
        assert placed.policies == [policy]
    private_t = fleet_scenario_for(state_of(("data_stays_on_device", {})), base)
    private = private_t.scenario
    assert private.policies == ["all-local", "split-optimal"]
    assert private.policy_params == {"split-optimal": {"keep_raw_input": 1.0}}
    assert any("model updates become federated rounds" in n for n in private_t.notes)
    battery = fleet_scenario_for(state_of(("battery_saver", {"battery_below": 0.2})), base)
    assert battery.notes == (
        "battery saver: the fleet simulator models no batteries; the closed loop does",
    )


def test_rollout_gets_the_canary_fraction():
    state = state_of(("canary_rollout", {"fraction": 0.05}))
    strict = RolloutPolicy(max_accuracy_drop=0.01)
    assert rollout_policy_for(state, strict) == RolloutPolicy(
        canary_fraction=0.05, max_accuracy_drop=0.01
    )
    assert rollout_policy_for(OrchestrationIntentState()) == RolloutPolicy()


def run(scenario, workload, policies=None):
    return simulate(scenario, workload, policies=policies)


def offloaded(result, policy):
    s = result.policy_summary(policy)
    return s["offload_fraction_edge"] + s["offload_fraction_cloud"]


def test_a_tighter_latency_slo_lowers_the_tail_and_is_met(base, workload):
    state = state_of(("latency_slo", {"percentile": 0.99, "target_s": 0.06}))
    before = run(base, workload, ["joint"])
    after = run(fleet_scenario_for(state, base).scenario, workload, ["joint"])
    p99 = [latency_at_percentile_s(r, "joint", 0.99) for r in (before, after)]
    assert p99[1] < p99[0] and p99[0] > 0.06
    attained = slo_attainment(after, "joint", state)
    assert attained["met"] and attained["latency_s"] == pytest.approx(p99[1])
    assert slo_attainment(before, "joint", OrchestrationIntentState()) is None


def test_an_offload_budget_caps_the_cascade(base, workload):
    before = run(base, workload, ["cascade-threshold"])
    state = state_of(("offload_budget", {"max_offload_fraction": 0.05}))
    after = run(fleet_scenario_for(state, base).scenario, workload)
    assert offloaded(before, "cascade-threshold") > 0.1
    # the threshold is set on the calibration half; requests draw from the evaluation half
    assert offloaded(after, "cascade-threshold") <= 0.05 + 0.02
    assert offloaded(after, "all-local") == 0


def test_placement_on_the_device_offloads_nothing(base, workload):
    after = run(
        fleet_scenario_for(state_of(("placement", {"tier": "device"})), base).scenario, workload
    )
    s = after.policy_summary("all-local")
    assert s["bytes_on_air_per_request"] == 0 and offloaded(after, "all-local") == 0


def test_minimising_energy_lowers_energy(base, workload):
    before = run(base, workload, ["joint"])
    after = run(fleet_scenario_for(state_of(("minimise_energy", {})), base).scenario, workload)
    energy = [r.policy_summary("joint")["energy_j_per_inference"] for r in (before, after)]
    assert energy[1] < energy[0]


def test_data_on_device_never_sends_a_raw_input(base, workload):
    scenario = fleet_scenario_for(state_of(("data_stays_on_device", {})), base).scenario
    raw = {CASCADE_EDGE, CASCADE_CLOUD, CUT0_EDGE, cut0_cloud(workload)}
    seen: dict[str, list[np.ndarray]] = {}

    def trace(policy, out):
        seen.setdefault(policy, []).append(out["action"][out["sending"]])

    simulate_shard(scenario, workload, np.arange(2), trace=trace)
    assert set(seen) == {"all-local", "split-optimal"}
    split_sent = np.concatenate(seen["split-optimal"])
    assert len(split_sent) > 0 and not set(split_sent.tolist()) & raw
    assert len(np.concatenate(seen["all-local"])) == 0
