"""OTA rollout live: a real service with a registry hands out signed bundles, live TFLM devices
install them on trial and report, and the rollout promotes a good model or rolls a regressed one
back (canaries only ever ran it)."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinylarge.large.agent import DeviceAgent
from tinylarge.large.client import AsyncLargeClient
from tinylarge.large.operator import OperatorClient
from tinylarge.large.ota import OtaDevice
from tinylarge.large.service import create_app
from tinylarge.large.service.runner import serve_in_thread
from tinylarge.large.session import DeviceSession
from tinylarge.large.updater import DeviceUpdater
from tinylarge.secure.bundle import sign_bundle
from tinylarge.secure.keys import key_id
from tinylarge.secure.slots import UpdateSlots
from tinylarge.tiny.runtime import TflmRuntime

from .conftest import DEVICE_TFLITE, FIXTURES, MODEL
from .test_service_security import admin_token, make_config

GOOD = DEVICE_TFLITE.read_bytes()
WEAK = (FIXTURES / "digits_cnn_weak_int8.tflite").read_bytes()
TARGET = "nrf52840"
N_DEVICES = 12
POLICY = {
    "canary_fraction": 0.3,
    "min_canary_reports": 2,
    "min_canary_samples": 20,
    "max_accuracy_drop": 0.1,
    "max_latency_ratio": 5.0,
}


@pytest.fixture()
def fleet(service_config, teacher, tmp_path, digits):
    signer = Ed25519PrivateKey.generate()
    pem = tmp_path / "bundle-public.pem"
    pem.write_bytes(
        signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    cfg = make_config(
        service_config,
        tmp_path,
        f"sqlite:///{tmp_path / 'reg.db'}",
        bundle_public_keys=[str(pem)],
    )
    app = create_app(cfg, backends={MODEL: teacher})
    with serve_in_thread(app) as url, OperatorClient(url, admin_token(tmp_path)) as op:
        v1 = sign_bundle(GOOD, signer, version=1, target=TARGET)
        op.upload_bundle(v1)
        # fleet rollbacks must stay possible: the updates keep security counter 1
        op.upload_bundle(sign_bundle(WEAK, signer, version=2, target=TARGET, security_counter=1))
        op.upload_bundle(sign_bundle(GOOD, signer, version=3, target=TARGET, security_counter=1))
        keys = {f"dev-{i}": Ed25519PrivateKey.generate() for i in range(N_DEVICES)}
        for device_id, key in keys.items():
            op.register(device_id, key.public_key(), TARGET)
        yield url, op, signer, keys, v1


def play(url, signer, keys, v1, digits, n_samples=100):
    arena = TflmRuntime(GOOD).arena_bytes
    trusted = {key_id(signer.public_key()): signer.public_key()}

    def make_runtime(model: bytes) -> TflmRuntime:
        return TflmRuntime(model, arena_bytes=arena)

    async def one(i, device_id, key):
        slots = UpdateSlots(dict(trusted), TARGET, trial_window_s=60.0)
        slots.stage(v1, 0.0)  # factory image
        slots.confirm(0.0)
        runtime = make_runtime(GOOD)
        updater = DeviceUpdater(
            slots,
            runtime,
            make_runtime,
            digits.x_test[-100:],
            digits.y_test[-100:],
            min_accuracy=0.5,
            trial_samples=10,
        )
        async with (
            AsyncLargeClient(url) as client,
            DeviceSession(url, device_id, key, seed=i) as session,
        ):
            agent = DeviceAgent(runtime, client, MODEL, threshold=0.0, device_id=device_id)
            device = OtaDevice(agent, updater, session, check_every=10, report_every=20)
            start = (i * 37) % 200
            x, y = (
                digits.x_test[start : start + n_samples],
                digits.y_test[start : start + n_samples],
            )
            return await device.play(x, y)

    async def main():
        return await asyncio.gather(*(one(i, d, k) for i, (d, k) in enumerate(keys.items())))

    return dict(zip(keys, asyncio.run(main()), strict=True))


@pytest.mark.slow
def test_a_regressed_update_is_rolled_back_after_the_canaries(fleet, digits):
    url, op, signer, keys, v1 = fleet
    op.start_rollout("r-weak", TARGET, 1, 2, POLICY)
    logs = play(url, signer, keys, v1, digits)
    status = op.rollout("r-weak")
    assert status["phase"] == "rolled_back" and "canary accuracy" in status["reason"]
    ran_v2 = {d for d, log in logs.items() if 2 in log.versions}
    from tinylarge.secure.rollout import canary_score

    canaries = {d for d in keys if canary_score("r-weak", d) < POLICY["canary_fraction"]}
    assert ran_v2 and ran_v2 <= canaries  # only canaries ever served the weak model
    assert all(log.versions[-1] == 1 for log in logs.values())  # everyone back on version 1


@pytest.mark.slow
def test_a_good_update_is_promoted_to_the_whole_fleet(fleet, digits):
    url, op, signer, keys, v1 = fleet
    op.start_rollout("r-good", TARGET, 1, 3, POLICY)
    logs = play(url, signer, keys, v1, digits, n_samples=120)
    status = op.rollout("r-good")
    assert status["phase"] == "full", status["reason"]
    assert all(log.versions[-1] == 3 for log in logs.values())
    confirmed = [e for log in logs.values() for e in log.events if e["kind"] == "confirmed"]
    assert len(confirmed) == N_DEVICES


def test_one_live_device_follows_a_rollout_through_the_cli_function(fleet, digits):
    """What `tinylarge device --device-key --trust --target` runs: auth, install, confirm."""
    from tinylarge.large.ota import play_live_device

    url, op, signer, keys, v1 = fleet
    policy = {**POLICY, "canary_fraction": 1.0, "min_canary_reports": 1}
    op.start_rollout("r-one", TARGET, 1, 3, policy)
    summary = asyncio.run(
        play_live_device(
            url,
            TflmRuntime(GOOD),
            digits.x_test[:40],
            digits.y_test[:40],
            model=MODEL,
            device_id="dev-0",
            threshold=0.0,
            key=keys["dev-0"],
            trusted=[signer.public_key()],
            target=TARGET,
            probe=(digits.x_test[-100:], digits.y_test[-100:]),
        )
    )
    kinds = [e["kind"] for e in summary["events"]]
    assert summary["version"] == 3 and "trial" in kinds and "confirmed" in kinds
    assert summary["n_requests"] == 40 and summary["device_accuracy"] > 0.8


def test_device_cli_needs_a_key_to_follow_a_rollout(tmp_path):
    import subprocess
    import sys

    (tmp_path / "k.pem").write_text("a trusted signer's key\n")
    r = subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", "device", "--tflite", str(DEVICE_TFLITE),
         "--model", MODEL, "--token", "t", "--trust", "k.pem", "--json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2 and r.stdout == ""
    assert "following a rollout (--trust) needs --device-key and --target" in r.stderr
