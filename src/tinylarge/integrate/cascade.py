"""Cascade offloading (TinyML -> LargeML): the device's int8 model answers what it is sure of and
sends the rest up to the LargeML model.

After Park et al., "Big/LITTLE Deep Neural Network for Ultra Low Power Inference" (CODES+ISSS 2015)
and KubeEdge Sedna's joint inference. The threshold is calibrated on one seeded half of the held-out
data and every reported number is measured on the other half, so the operating point is honest.
Device energy per inference is ``E_infer + f_offload * (E_tx(input) + P_sleep * t_wait)``, against
``E_tx(input) + P_sleep * t_wait`` for sending everything (sensing energy, common to both, omitted).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tinylarge.integrate.gates import (
    Gate,
    LearnedGate,
    calibrate_threshold,
    confidence,
    offload_curve,
    softmax,
)
from tinylarge.net import list_links, load_link, transfer_energy_j, transfer_latency_s

if TYPE_CHECKING:
    from torch import nn

    from tinylarge.data import Dataset


class CascadeConfig(BaseModel):
    """How to calibrate the cascade: exactly one of ``max_accuracy_drop`` (vs the big model alone,
    in accuracy points as a fraction) or ``offload_budget`` (fraction of inputs sent up)."""

    model_config = ConfigDict(extra="forbid")

    gate: Gate = Gate.MAX_PROB
    max_accuracy_drop: float | None = Field(0.002, ge=0.0, le=1.0)
    offload_budget: float | None = Field(None, ge=0.0, le=1.0)
    calibration_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    seed: int = 0

    @model_validator(mode="after")
    def _one_target(self) -> CascadeConfig:
        if self.offload_budget is not None:
            self.max_accuracy_drop = None
        if self.max_accuracy_drop is None and self.offload_budget is None:
            raise ValueError("set max_accuracy_drop or offload_budget")
        return self


@dataclass
class DeviceCost:
    """What one inference costs the device: local int8 inference, and idle power while waiting."""

    device: str
    infer_energy_j: float
    infer_latency_s: float
    sleep_power_w: float
    input_size_bytes: int


@dataclass
class CascadeResult:
    """The chosen operating point (on the evaluation half) and the whole accuracy/offload curve."""

    gate: str
    threshold: float
    offload_fraction: float
    accuracy: float
    small_accuracy: float
    big_accuracy: float
    n_calibration: int
    n_eval: int
    curve: list[dict[str, float]]
    energy: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def energy_table(
    offload_fraction: float, cost: DeviceCost, links: list[str]
) -> list[dict[str, Any]]:
    """Device energy per inference, cascade vs all-offload, over each named link."""
    rows = []
    for name in links:
        link = load_link(name)
        send_j = transfer_energy_j(cost.input_size_bytes, link)
        wait_j = cost.sleep_power_w * transfer_latency_s(cost.input_size_bytes, link)
        all_offload_j = send_j + wait_j
        cascade_j = cost.infer_energy_j + offload_fraction * all_offload_j
        rows.append(
            {
                "link": name,
                "cascade_energy_j": cascade_j,
                "all_offload_energy_j": all_offload_j,
                "saving": 1.0 - cascade_j / all_offload_j,
                "cascade_latency_s": cost.infer_latency_s
                + offload_fraction * transfer_latency_s(cost.input_size_bytes, link),
                "all_offload_latency_s": transfer_latency_s(cost.input_size_bytes, link),
            }
        )
    return rows


def run_cascade(
    small_logits: np.ndarray,
    big_logits: np.ndarray,
    y: np.ndarray,
    config: CascadeConfig | None = None,
    cost: DeviceCost | None = None,
    links: list[str] | None = None,
) -> CascadeResult:
    """Calibrate on a seeded part of ``(small_logits, big_logits, y)``, report on the rest.

    ``small_logits`` are the device model's dequantized int8 outputs ``(n, k)``; ``big_logits``
    the LargeML model's ``(n, k)``.
    """
    config = config or CascadeConfig()
    n = len(y)
    order = np.random.default_rng(config.seed).permutation(n)
    n_cal = int(round(config.calibration_fraction * n))
    cal, ev = order[:n_cal], order[n_cal:]

    probs = softmax(small_logits.reshape(n, -1).astype(np.float64))
    small_ok = small_logits.reshape(n, -1).argmax(1) == y
    big_ok = big_logits.reshape(n, -1).argmax(1) == y
    if config.gate is Gate.LEARNED:  # fitted on the calibration part only
        score = LearnedGate(config.seed).fit(probs[cal], small_ok[cal]).score(probs)
    else:
        score = confidence(probs, config.gate)

    cal_curve = offload_curve(score[cal], small_ok[cal], big_ok[cal])
    target = None
    if config.max_accuracy_drop is not None:
        target = float(big_ok[cal].mean()) - config.max_accuracy_drop
    threshold = calibrate_threshold(cal_curve, target, config.offload_budget)

    offload = score[ev] < threshold
    answer_ok = np.where(offload, big_ok[ev], small_ok[ev])
    ev_curve = offload_curve(score[ev], small_ok[ev], big_ok[ev])
    step = max(1, len(ev) // 200)  # keep the stored curve small
    curve = [
        {"offload_fraction": float(f), "accuracy": float(a)}
        for f, a in zip(ev_curve.offload_fraction[::step], ev_curve.accuracy[::step], strict=True)
    ]
    result = CascadeResult(
        gate=str(config.gate),
        threshold=threshold,
        offload_fraction=float(offload.mean()),
        accuracy=float(answer_ok.mean()),
        small_accuracy=float(small_ok[ev].mean()),
        big_accuracy=float(big_ok[ev].mean()),
        n_calibration=len(cal),
        n_eval=len(ev),
        curve=curve,
    )
    if cost is not None:
        result.energy = energy_table(result.offload_fraction, cost, links or list_links())
    return result


def cascade_inputs(
    student_tflite: str | Path, teacher: nn.Module, dataset: Dataset, device: str = "nrf52840"
) -> tuple[np.ndarray, np.ndarray, DeviceCost]:
    """The int8 student's dequantized outputs (run in TFLM), the teacher's logits on the test
    set, and what one student inference costs on ``device`` (catalog)."""
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.profile import profile
    from tinylarge.tiny.quantize import to_model_layout
    from tinylarge.tiny.runtime import TflmRuntime
    from tinylarge.train import predict_logits

    runtime = TflmRuntime(student_tflite)
    small = runtime.predict(to_model_layout(dataset.x_test))  # dequantized int8 outputs
    big = predict_logits(teacher, dataset.x_test)
    prof = profile(str(student_tflite), device)
    cost = DeviceCost(
        device=device,
        infer_energy_j=prof.energy_j,
        infer_latency_s=prof.latency_s,
        sleep_power_w=load_device(device).sleep_power_w,
        input_size_bytes=int(np.prod(runtime.input_shape[1:])),  # the int8 input, as sent up
    )
    return small, big, cost


def cascade_from_models(
    student_tflite: str | Path,
    teacher: nn.Module,
    dataset: Dataset,
    config: CascadeConfig | None = None,
    device: str = "nrf52840",
    links: list[str] | None = None,
) -> CascadeResult:
    """Run the deployed int8 student in TFLM and the teacher in torch on the test set, then
    calibrate and cost the cascade on ``device`` (catalog) over ``links``."""
    small, big, cost = cascade_inputs(student_tflite, teacher, dataset, device)
    return run_cascade(small, big, dataset.y_test, config, cost, links)
