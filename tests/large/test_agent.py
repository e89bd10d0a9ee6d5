"""The live device agent: real TFLM, a max-probability gate, real HTTP offload, real latency."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from tinylarge.large.agent import DeviceAgent
from tinylarge.large.client import AsyncLargeClient
from tinylarge.tiny.gates import Gate, gate_scores
from tinylarge.tiny.layout import to_device_layout
from tinylarge.tiny.runtime import TflmRuntime, dequantize, quantize

from .conftest import DEVICE_TFLITE, MODEL, SPLIT_CUT, SPLIT_TFLITE


@pytest.fixture(scope="module")
def runtime() -> TflmRuntime:
    return TflmRuntime(DEVICE_TFLITE)


def run_agent(server, token, runtime, threshold, x, y):
    async def main():
        async with AsyncLargeClient(server, token) as client:
            agent = DeviceAgent(runtime, client, MODEL, threshold, device_id="device-test")
            return await agent.run(x, y)

    return asyncio.run(main())


def test_threshold_zero_keeps_everything_on_the_device(server, token, runtime, digits):
    x, y = digits.x_test[:20], digits.y_test[:20]
    result = run_agent(server, token, runtime, 0.0, x, y)
    x_dev, _ = to_device_layout(x, runtime.input_shape)
    expected = runtime.predict(x_dev).reshape(len(x), -1).argmax(1)
    assert [r.label for r in result.records] == expected.tolist()
    s = result.summary()
    assert s["n_offloaded"] == 0 and s["n_failed"] == 0 and s["bytes_sent"] == 0
    assert all(r.latency_s >= r.device_latency_s > 0 for r in result.records)


def test_threshold_above_one_offloads_everything_and_takes_the_teachers_answer(
    server, token, runtime, teacher, digits
):
    x, y = digits.x_test[:20], digits.y_test[:20]
    result = run_agent(server, token, runtime, 1.01, x, y)
    # what the server saw: the device's int8 input, dequantized
    x_dev, _ = to_device_layout(x, runtime.input_shape)
    q = quantize(x_dev, runtime.input_scale, runtime.input_zero_point)
    x_seen = dequantize(q, runtime.input_scale, runtime.input_zero_point).transpose(0, 3, 1, 2)
    with torch.inference_mode():
        expected = teacher.model(torch.from_numpy(np.ascontiguousarray(x_seen))).argmax(1)
    assert [r.label for r in result.records] == expected.tolist()
    s = result.summary()
    assert s["n_offloaded"] == 20 and s["n_failed"] == 0
    assert s["bytes_sent"] > 0 and s["offload_latency_s"]["p50"] > 0
    assert all(r.latency_s >= r.offload_latency_s > 0 for r in result.records)
    assert 0.0 <= s["accuracy"] <= 1.0


def test_a_gate_threshold_offloads_exactly_the_unsure_samples(server, token, runtime, digits):
    x, y = digits.x_test[:40], digits.y_test[:40]
    x_dev, _ = to_device_layout(x, runtime.input_shape)
    confidence = gate_scores(runtime.predict(x_dev).reshape(len(x), -1), Gate.MAX_PROB)
    threshold = float(np.median(confidence))
    result = run_agent(server, token, runtime, threshold, x, y)
    assert [r.offloaded for r in result.records] == (confidence < threshold).tolist()


def test_an_unreachable_service_is_counted_and_the_device_answer_kept(runtime, token, digits):
    x, y = digits.x_test[:5], digits.y_test[:5]
    result = run_agent("http://127.0.0.1:9", token, runtime, 1.01, x, y)  # discard port
    assert result.n_failed == 5
    assert all(r.label == r.device_label and "ConnectError" in r.error for r in result.records)


def test_a_revoked_device_fails_with_401_recorded(server, runtime, digits):
    from tinylarge.secure.tokens import issue_token, new_secret

    bad = issue_token(new_secret(), "intruder", ttl_s=60)
    result = run_agent(server, bad, runtime, 1.01, digits.x_test[:3], digits.y_test[:3])
    assert result.n_failed == 3 and all("401" in r.error for r in result.records)


def test_split_mode_sends_the_int8_activation_and_the_server_finishes(
    server, token, teacher, digits
):
    """Device part blocks[:2] in TFLM, tail on the server: close to the float teacher."""
    runtime = TflmRuntime(SPLIT_TFLITE)
    x, y = digits.x_test[:30], digits.y_test[:30]

    async def main():
        async with AsyncLargeClient(server, token) as client:
            agent = DeviceAgent(runtime, client, MODEL, device_id="split-0", cut=SPLIT_CUT)
            return await agent.run(x, y)

    result = asyncio.run(main())
    assert result.n_failed == 0
    assert all(r.offloaded and r.device_latency_s > 0 for r in result.records)
    # the int8 activation (8 x 4 x 4 values, one byte each) is what crossed the link
    assert all(r.request_bytes < 400 for r in result.records)
    with torch.inference_mode():
        float_labels = teacher.model(torch.from_numpy(x)).argmax(1).numpy()
    agreement = np.mean([r.label for r in result.records] == float_labels)
    assert agreement >= 0.9  # int8 device part vs float: a few borderline samples may flip
