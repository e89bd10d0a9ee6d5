"""Device-side installs with real TFLM: refusals keep the running model, self-tests guard the
switch, trials confirm or revert (MCUboot's test/confirm/revert)."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinylarge.large.updater import DeviceUpdater, probe_accuracy
from tinylarge.secure.bundle import sign_bundle
from tinylarge.secure.keys import key_id
from tinylarge.secure.slots import UpdateSlots
from tinylarge.tiny.runtime import TflmRuntime

from .conftest import DEVICE_TFLITE, FIXTURES, SPLIT_TFLITE

GOOD = DEVICE_TFLITE.read_bytes()
WEAK = (FIXTURES / "digits_cnn_weak_int8.tflite").read_bytes()


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture()
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture()
def device(key, digits):
    clock = Clock()
    trusted = {key_id(key.public_key()): key.public_key()}
    slots = UpdateSlots(trusted, "nrf52840", trial_window_s=30.0)
    slots.stage(sign_bundle(GOOD, key, version=1, target="nrf52840"), 0.0)
    slots.confirm(0.0)
    runtime = TflmRuntime(GOOD)
    updater = DeviceUpdater(
        slots,
        runtime,
        lambda model: TflmRuntime(model),
        digits.x_test[-100:],  # held-out known answers
        digits.y_test[-100:],
        min_accuracy=0.8,
        trial_samples=10,
        clock=clock,
    )
    return updater, clock


def test_the_weak_fixture_is_a_real_regression(digits):
    good, weak = TflmRuntime(GOOD), TflmRuntime(WEAK)
    acc_good = probe_accuracy(good, digits.x_test, digits.y_test)
    acc_weak = probe_accuracy(weak, digits.x_test, digits.y_test)
    assert acc_good > 0.85 and 0.5 < acc_weak < acc_good - 0.1


def test_refused_bundles_keep_the_running_runtime(device, key):
    updater, _ = device
    before = updater.runtime
    for data in (
        sign_bundle(GOOD, Ed25519PrivateKey.generate(), version=2, target="nrf52840"),
        sign_bundle(GOOD, key, version=2, target="esp32s3"),
        sign_bundle(GOOD, key, version=0, target="nrf52840", security_counter=0),
        b"PK\x03\x04garbage",
    ):
        outcome = updater.install(data)
        assert outcome.status == "refused" and outcome.reason
        assert updater.runtime is before and updater.version == 1


def test_a_model_with_another_output_shape_fails_its_self_test(device, key):
    updater, _ = device
    outcome = updater.install(
        sign_bundle(SPLIT_TFLITE.read_bytes(), key, version=2, target="nrf52840")
    )
    assert outcome.status == "failed_self_test" and "output shape" in outcome.reason
    assert updater.version == 1 and updater.slots.events[-1].kind == "reverted"


def test_a_weak_model_fails_the_known_answer_probe(device, key):
    updater, _ = device
    outcome = updater.install(sign_bundle(WEAK, key, version=2, target="nrf52840"))
    assert outcome.status == "failed_self_test" and "probe accuracy" in outcome.reason


def test_a_healthy_trial_confirms_and_raises_the_counter(device, key, digits):
    updater, _ = device
    outcome = updater.install(
        sign_bundle(GOOD, key, version=2, target="nrf52840", security_counter=2)
    )
    assert outcome.ok and updater.slots.trial is not None
    events = [updater.observe(True, 0.001) for _ in range(10)]
    assert events[-1] == "confirmed" and events[:-1] == [None] * 9
    assert updater.slots.installed_counter == 2 and updater.version == 2


def test_an_unhealthy_trial_reverts_to_the_previous_runtime(device, key):
    updater, _ = device
    before = updater.runtime
    updater.install(sign_bundle(GOOD, key, version=2, target="nrf52840"))
    assert updater.runtime is not before
    events = [updater.observe(i % 2 == 0, 0.001) for i in range(10)]  # 50 % < 80 %
    assert events[-1] == "reverted" and updater.runtime is before and updater.version == 1


def test_a_trial_nobody_confirms_reverts_after_its_window(device, key):
    updater, clock = device
    before = updater.runtime
    updater.install(sign_bundle(GOOD, key, version=2, target="nrf52840"))
    clock.now_s = 31.0
    assert updater.observe(True, 0.001) == "reverted" and updater.runtime is before


def test_probe_accuracy_matches_the_runtime_predictions(digits):
    rt = TflmRuntime(GOOD)
    x = digits.x_test[:50]
    from tinylarge.large.agent import to_device_layout

    expected = rt.predict(to_device_layout(x, rt.input_shape)[0]).reshape(50, -1).argmax(1)
    assert probe_accuracy(rt, x, digits.y_test[:50]) == float(
        np.mean(expected == digits.y_test[:50])
    )
