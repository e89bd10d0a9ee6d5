"""The kinds' validation and :func:`apply_intent`: what each kind changes, and conflicts refused."""

import pytest
from pydantic import ValidationError

from tinylarge.scenario.intent_kinds import change_params, make_change
from tinylarge.scenario.intent_state import (
    EMPHASIS,
    PRIVATE_PATTERNS,
    IntentConflictError,
    OrchestrationIntentState,
    Pattern,
    apply_intent,
)


def test_a_change_is_valid_or_does_not_exist():
    assert change_params(make_change("offload_budget", {"max_offload_fraction": 0.2})) == {
        "max_offload_fraction": 0.2
    }
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        make_change("offload_budget", {"max_offload_fraction": 1.5})
    with pytest.raises(ValidationError, match="greater than 0"):
        make_change("latency_slo", {"percentile": 0.99, "target_s": 0.0})
    with pytest.raises(ValidationError, match="device_class 'toaster' is not in the catalog"):
        make_change("minimise_energy", {"device_class": "toaster"})
    with pytest.raises(ValidationError, match="less than 1"):
        make_change("battery_saver", {"battery_below": 1.0})
    assert change_params(make_change("minimise_energy", {})) == {}  # unset options left out


def test_each_kind_sets_what_it_names():
    state = OrchestrationIntentState()
    state = apply_intent(make_change("latency_slo", {"percentile": 0.95, "target_s": 0.05}), state)
    assert (state.sla_latency_s, state.sla_percentile) == (0.05, 0.95)
    state = apply_intent(make_change("offload_budget", {"max_offload_fraction": 0.1}), state)
    assert state.max_offload_fraction == 0.1
    state = apply_intent(make_change("canary_rollout", {"fraction": 0.05}), state)
    assert state.canary_fraction == 0.05
    state = apply_intent(make_change("battery_saver", {"battery_below": 0.2}), state)
    assert state.battery_saver_below == 0.2
    state = apply_intent(make_change("placement", {"tier": "device"}), state)
    assert state.forced_tier == "device"
    state = apply_intent(make_change("data_stays_on_device", {}), state)
    assert state.allowed_patterns == PRIVATE_PATTERNS and not state.raw_input_may_leave
    assert state.applied == (
        "latency_slo",
        "offload_budget",
        "canary_rollout",
        "battery_saver",
        "placement",
        "data_stays_on_device",
    )


def test_the_latest_objective_intent_sets_both_weights():
    energy = apply_intent(make_change("minimise_energy", {"device_class": "mcu", "window_s": 60}))
    assert (energy.energy_weight, energy.error_weight) == (EMPHASIS, 1.0)
    assert (energy.objective_device_class, energy.objective_window_s) == ("mcu", 60.0)
    accuracy = apply_intent(make_change("maximise_accuracy", {}), energy)
    assert (accuracy.energy_weight, accuracy.error_weight) == (1.0, EMPHASIS)
    assert accuracy.objective_window_s is None


def test_apply_is_pure():
    state = OrchestrationIntentState()
    apply_intent(make_change("canary_rollout", {"fraction": 0.5}), state)
    assert state == OrchestrationIntentState() and Pattern.CASCADE in state.allowed_patterns


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            ("data_stays_on_device", {}),
            ("placement", {"tier": "cloud"}),
            "placement on the cloud sends raw input off the devices, but data_stays_on_device",
        ),
        (
            ("placement", {"tier": "edge"}),
            ("data_stays_on_device", {}),
            "data_stays_on_device contradicts placement on the edge in force",
        ),
        (
            ("offload_budget", {"max_offload_fraction": 0.1}),
            ("placement", {"tier": "edge"}),
            "placement on the edge offloads every request, but an offload budget of 0.1",
        ),
        (
            ("placement", {"tier": "cloud"}),
            ("offload_budget", {"max_offload_fraction": 0.2}),
            "an offload budget of 0.2 contradicts placement on the cloud in force",
        ),
    ],
)
def test_contradicting_changes_are_refused_not_applied(first, second, message):
    state = apply_intent(make_change(*first))
    with pytest.raises(IntentConflictError, match=message):
        apply_intent(make_change(*second), state)


def test_compatible_changes_apply():
    state = apply_intent(make_change("data_stays_on_device", {}))
    state = apply_intent(make_change("placement", {"tier": "device"}), state)
    state = apply_intent(make_change("offload_budget", {"max_offload_fraction": 0.0}), state)
    assert state.forced_tier == "device" and state.max_offload_fraction == 0.0
