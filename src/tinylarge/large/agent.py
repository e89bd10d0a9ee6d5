"""The live device agent: int8 model in TFLM, a confidence gate, offload of the rest over HTTP.

Per request the agent (1) quantizes the sample with the model's input parameters, (2) runs the
real TFLM interpreter, (3) computes the max softmax probability of the dequantized int8 logits and
(4) if it is below ``threshold`` sends the int8 input it already holds (1 byte per value, with its
scale and zero point) to the service and takes the LargeML answer. This is the cascade of Park et
al., "Big/Little deep neural network for ultra low power inference" (CODES+ISSS 2015), played
live: the recorded latency is wall-clock from the sample to the final answer, network included.
If the service fails, the agent keeps the device's own answer and counts the failure.

``gate`` may replace the max-probability score: any gate of :mod:`tinylarge.tiny.gates` (a fitted
``LearnedGate`` too) or any ``logits -> score`` with "higher = surer", so the thresholds the
cascade calibrates plug in unchanged.

With ``cut=k`` the agent does split computing instead (Kang et al., "Neurosurgeon", ASPLOS 2017):
its runtime is the network's device part ``blocks[:k]`` as int8, and every sample's int8
activation (with the output tensor's scale and zero point) goes to ``/split/k`` for the tail.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from tinylarge.large.client import AsyncLargeClient
from tinylarge.large.stats import quantiles
from tinylarge.tiny.gates import Gate, GateLike, gate_scores
from tinylarge.tiny.layout import to_device_layout
from tinylarge.tiny.runtime import Int8Runtime, dequantize, quantize


@dataclass
class RequestRecord:
    """One sample's trip: what the device said, whether it offloaded, the final answer, timings."""

    index: int
    device_label: int
    confidence: float
    offloaded: bool
    label: int
    latency_s: float
    device_latency_s: float
    offload_latency_s: float = 0.0
    request_bytes: int = 0
    true_label: int | None = None
    error: str | None = None


@dataclass
class AgentResult:
    """Everything one agent did; :meth:`summary` gives the headline numbers."""

    device_id: str
    records: list[RequestRecord] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def n_failed(self) -> int:
        return sum(r.error is not None for r in self.records)

    def summary(self) -> dict:
        recs = self.records
        n = len(recs)
        labelled = [r for r in recs if r.true_label is not None]
        offloaded = [r for r in recs if r.offloaded]
        out = {
            "device_id": self.device_id,
            "n_requests": n,
            "n_offloaded": len(offloaded),
            "n_failed": self.n_failed,
            "offload_fraction": len(offloaded) / n if n else 0.0,
            "latency_s": quantiles([r.latency_s for r in recs]),
            "offload_latency_s": quantiles([r.offload_latency_s for r in offloaded]),
            "device_latency_s": quantiles([r.device_latency_s for r in recs]),
            "bytes_sent": sum(r.request_bytes for r in recs),
            "wall_s": self.wall_s,
        }
        if labelled:
            out["accuracy"] = float(np.mean([r.label == r.true_label for r in labelled]))
            out["device_accuracy"] = float(
                np.mean([r.device_label == r.true_label for r in labelled])
            )
        return out

    def to_dict(self) -> dict:
        return {**self.summary(), "records": [asdict(r) for r in self.records]}


class DeviceAgent:
    """Plays one device against the service.

    Parameters
    ----------
    runtime : the device's int8 model (``TflmRuntime`` for the real MCU interpreter).
    client : an :class:`AsyncLargeClient` holding this device's token.
    model : the service's model name to offload to.
    threshold : offload when the gate score is below it (0 = never, > 1 = always).
    gate : a :class:`~tinylarge.tiny.gates.Gate`, a fitted ``LearnedGate``, or any
        ``logits (n, k) float -> score (n,)``; default: the max softmax probability.
    cut : split mode: ``runtime`` is ``blocks[:cut]`` and every activation is sent to the
        service's ``/split/{cut}`` (the gate is not used).
    activation_layout : layout of the device part's 4-D output; converted PyTorch models keep
        NCHW at the output (only the input is made NHWC).
    """

    def __init__(
        self,
        runtime: Int8Runtime,
        client: AsyncLargeClient,
        model: str,
        threshold: float = 0.9,
        device_id: str = "device-0",
        gate: GateLike = Gate.MAX_PROB,
        cut: int | None = None,
        activation_layout: str = "NCHW",
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.model = model
        self.threshold = threshold
        self.device_id = device_id
        self.gate = gate
        self.cut = cut
        self.activation_layout = activation_layout

    def run_device(self, x: np.ndarray) -> tuple[np.ndarray, str, np.ndarray]:
        """NCHW float batch -> (its int8 model input, that input's layout, dequantized logits)."""
        rt = self.runtime
        x_dev, layout = to_device_layout(x, rt.input_shape)
        q = quantize(x_dev, rt.input_scale, rt.input_zero_point)
        logits = dequantize(rt.invoke_int8(q), rt.output_scale, rt.output_zero_point)
        return q, layout, logits.reshape(len(q), -1)

    async def step(self, index: int, x: np.ndarray, true_label: int | None = None) -> RequestRecord:
        """Handle one sample ``x`` (shape ``(C, H, W)``, normalised float) end to end."""
        if self.cut is not None:
            return await self.split_step(index, x, true_label)
        start_s = time.perf_counter()
        q, layout, logits = self.run_device(x[None])
        score = float(gate_scores(logits, self.gate)[0])
        device_label = int(logits[0].argmax())
        device_s = time.perf_counter() - start_s
        record = RequestRecord(
            index=index,
            device_label=device_label,
            confidence=score,
            offloaded=score < self.threshold,
            label=device_label,
            latency_s=0.0,
            device_latency_s=device_s,
            true_label=true_label,
        )
        if record.offloaded:
            rt = self.runtime
            offload_start_s = time.perf_counter()
            try:
                result = await self.client.infer(
                    self.model,
                    q,
                    scale=rt.input_scale,
                    zero_point=rt.input_zero_point,
                    layout=layout,
                )
                record.label = int(result.labels[0])
                record.request_bytes = result.request_bytes
            except Exception as exc:  # keep the device's answer; the failure is counted
                record.error = f"{type(exc).__name__}: {exc}"
            record.offload_latency_s = time.perf_counter() - offload_start_s
        record.latency_s = time.perf_counter() - start_s
        return record

    async def split_step(
        self, index: int, x: np.ndarray, true_label: int | None = None
    ) -> RequestRecord:
        """Run the device part on ``x`` and let the service finish from the int8 activation."""
        rt = self.runtime
        start_s = time.perf_counter()
        x_dev, _ = to_device_layout(x[None], rt.input_shape)
        activation = rt.invoke_int8(quantize(x_dev, rt.input_scale, rt.input_zero_point))
        device_s = time.perf_counter() - start_s
        record = RequestRecord(
            index=index,
            device_label=-1,  # the device part gives no answer of its own
            confidence=0.0,
            offloaded=True,
            label=-1,
            latency_s=0.0,
            device_latency_s=device_s,
            true_label=true_label,
        )
        try:
            result = await self.client.infer_split(
                self.model,
                self.cut,
                activation,
                scale=rt.output_scale,
                zero_point=rt.output_zero_point,
                layout=self.activation_layout,
            )
            record.label = int(result.labels[0])
            record.request_bytes = result.request_bytes
        except Exception as exc:  # no device answer to fall back on: the failure is counted
            record.error = f"{type(exc).__name__}: {exc}"
        record.offload_latency_s = time.perf_counter() - start_s - device_s
        record.latency_s = time.perf_counter() - start_s
        return record

    async def run(
        self, x: np.ndarray, y: np.ndarray | None = None, interval_s: float = 0.0
    ) -> AgentResult:
        """Handle every sample of ``x`` (n, C, H, W) in order, one at a time, like a sensor loop."""
        result = AgentResult(self.device_id)
        start_s = time.perf_counter()
        for i in range(len(x)):
            true_label = None if y is None else int(y[i])
            result.records.append(await self.step(i, x[i], true_label))
            if interval_s > 0:
                await asyncio.sleep(interval_s)
            else:
                await asyncio.sleep(0)  # let other agents on this event loop take a turn
        result.wall_s = time.perf_counter() - start_s
        return result
