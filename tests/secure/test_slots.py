"""Test / confirm / revert: counters and key rotations take effect only on confirm."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinylarge.errors import TinylargeError
from tinylarge.secure.bundle import BundleError, Reason, sign_bundle
from tinylarge.secure.keys import key_id
from tinylarge.secure.slots import SlotState, UpdateSlots

MODEL = (Path(__file__).parents[1] / "large" / "fixtures" / "digits_cnn_int8.tflite").read_bytes()


@pytest.fixture()
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture()
def slots(key) -> UpdateSlots:
    s = UpdateSlots({key_id(key.public_key()): key.public_key()}, "dev", trial_window_s=10.0)
    s.stage(sign_bundle(MODEL, key, version=1, target="dev"), now_s=0.0)
    s.confirm(now_s=1.0)
    return s


def test_confirm_raises_the_counter_and_keeps_the_image(slots, key):
    slots.stage(sign_bundle(MODEL, key, version=2, target="dev", security_counter=5), now_s=2.0)
    assert slots.state is SlotState.TRIAL and slots.running.version == 2
    assert slots.installed_counter == 1  # not yet: a trial may still revert
    slots.confirm(now_s=3.0)
    assert (slots.state, slots.confirmed.version, slots.installed_counter) == (
        SlotState.CONFIRMED,
        2,
        5,
    )


def test_revert_returns_to_the_confirmed_image_and_counter(slots, key):
    slots.stage(sign_bundle(MODEL, key, version=2, target="dev", security_counter=5), now_s=2.0)
    assert slots.revert(now_s=3.0, reason="self-test failed").version == 1
    assert (slots.running.version, slots.installed_counter) == (1, 1)
    assert [e.kind for e in slots.events] == ["staged", "confirmed", "staged", "reverted"]


def test_an_unconfirmed_trial_reverts_at_its_deadline(slots, key):
    slots.stage(sign_bundle(MODEL, key, version=2, target="dev"), now_s=100.0)
    assert slots.tick(now_s=109.9) is False and slots.running.version == 2
    assert slots.tick(now_s=110.0) is True and slots.running.version == 1
    assert "not confirmed within 10 s" in slots.events[-1].detail


def test_refused_bundles_change_nothing(slots, key):
    before = (slots.running, slots.installed_counter, dict(slots.trusted))
    bad = [
        (sign_bundle(MODEL, Ed25519PrivateKey.generate(), version=3, target="dev"), "unknown_key"),
        (sign_bundle(MODEL, key, version=3, target="other"), "wrong_target"),
        (sign_bundle(MODEL, key, version=0, target="dev"), "rollback"),
    ]
    for data, reason in bad:
        with pytest.raises(BundleError) as info:
            slots.stage(data, now_s=5.0)
        assert info.value.reason is Reason(reason)
        assert (slots.running, slots.installed_counter, dict(slots.trusted)) == before


def test_a_key_rotation_applies_only_when_confirmed(slots, key):
    new = Ed25519PrivateKey.generate()
    rotation = sign_bundle(
        MODEL,
        key,
        version=2,
        target="dev",
        new_keys=[new.public_key()],
        retired_keys=[key_id(key.public_key())],
    )
    slots.stage(rotation, now_s=2.0)
    slots.revert(now_s=3.0, reason="health check")
    assert set(slots.trusted) == {key_id(key.public_key())}
    slots.stage(rotation, now_s=4.0)
    slots.confirm(now_s=5.0)
    assert set(slots.trusted) == {key_id(new.public_key())}
    slots.stage(sign_bundle(MODEL, new, version=3, target="dev"), now_s=6.0)


def test_one_trial_at_a_time_and_nothing_to_confirm(slots, key):
    with pytest.raises(TinylargeError, match="nothing to confirm"):
        slots.confirm(now_s=2.0)
    slots.stage(sign_bundle(MODEL, key, version=2, target="dev"), now_s=2.0)
    with pytest.raises(TinylargeError, match="another update is on trial"):
        slots.stage(sign_bundle(MODEL, key, version=3, target="dev"), now_s=2.5)
