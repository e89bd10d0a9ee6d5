"""The intent mapper end to end with the real foundation model. The sentences here are written for
these tests (none is copied from the labelled or held-out sets)."""

from __future__ import annotations

import dataclasses

import pytest

from tinylarge.errors import TinylargeError
from tinylarge.scenario.intent import OUT_OF_SCOPE, load_labelled
from tinylarge.scenario.intent_kinds import IntentKind


@pytest.mark.parametrize(
    ("text", "kind", "params"),
    [
        (
            "hold the 95th percentile response time below 40 milliseconds",
            "latency_slo",
            {"percentile": 0.95, "target_s": 0.04},
        ),
        ("let no more than 15% of samples go to the server", "offload_budget",
         {"max_offload_fraction": 0.15}),
        ("ship the next model to 5 percent of the fleet first", "canary_rollout",
         {"fraction": 0.05}),
        ("when a battery drops under 20%, save power", "battery_saver", {"battery_below": 0.2}),
        ("do all the inference in the cloud", "placement", {"tier": "cloud"}),
    ],
)  # fmt: skip
def test_in_scope_intents_map_to_their_kind_and_numbers(intent_mapper, text, kind, params):
    decision = intent_mapper.map(text)
    assert decision.accepted, decision.reason
    assert decision.kind == kind
    got = decision.to_dict()["params"]
    for name, value in params.items():
        assert got[name] == pytest.approx(value), (name, got)


@pytest.mark.parametrize(
    "text",
    [
        "what is the weather in Lisbon tomorrow",
        "delete every device from the registry",
        "write me a poem about routers",
    ],
)
def test_out_of_scope_requests_are_refused_with_the_closest_kinds(intent_mapper, text):
    decision = intent_mapper.map(text)
    assert not decision.accepted
    assert decision.kind is None and decision.change is None
    assert len(decision.closest) == 3 and all(isinstance(k, IntentKind) for k in decision.closest)
    reply = decision.to_dict()
    assert set(reply) >= {"accepted", "kind", "params", "confidence", "closest"}
    assert reply["params"] == {}


def test_an_invalid_number_is_refused_naming_it(intent_mapper):
    decision = intent_mapper.map("offload at most 140% of requests")
    assert not decision.accepted
    assert "140" in decision.reason or "1.4" in decision.reason


def test_two_changes_at_once_are_refused(intent_mapper):
    decision = intent_mapper.map("minimise energy and also roll out to 10% of devices first")
    assert not decision.accepted


def test_the_decision_is_frozen_and_the_empty_intent_an_error(intent_mapper):
    decision = intent_mapper.map("minimise energy on the microcontrollers")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.accepted = False  # type: ignore[misc]
    with pytest.raises(TinylargeError, match="empty"):
        intent_mapper.map("   ")


def test_the_training_set_has_every_kind_and_out_of_scope():
    train = load_labelled("train")
    kinds = set(train.labels)
    assert kinds == {k.value for k in IntentKind} | {OUT_OF_SCOPE}


def test_map_intent_and_apply_intent_are_the_public_pair(intent_mapper, monkeypatch):
    from tinylarge.scenario import intent
    from tinylarge.scenario.intent_state import OrchestrationIntentState, apply_intent

    monkeypatch.setattr(intent, "_default_mapper", lambda: intent_mapper)
    decision = intent.map_intent("keep the worst-case latency under half a second")
    assert decision.accepted, decision.reason
    state = apply_intent(decision.change, OrchestrationIntentState())
    assert state.sla_latency_s == pytest.approx(0.5)
