"""Cascade offloading (TinyML -> LargeML): the device's int8 model answers what it is sure of and
sends the rest up to the LargeML model.

After Park et al., "Big/LITTLE Deep Neural Network for Ultra Low Power Inference" (CODES+ISSS 2015)
and KubeEdge Sedna's joint inference. The gate threshold is calibrated on one seeded half of the
held-out data and every reported number is measured on the other half, repeated over several
seeded splits (:mod:`tinylarge.integrate.calibration`). Device energy per inference is
``E_infer + f_offload * (E_tx(input) + P_sleep * t_wait)``, against ``E_tx(input) + P_sleep *
t_wait`` for sending everything (sensing energy, common to both, omitted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import numpy as np
from pydantic import Field

from tinylarge.integrate import pattern
from tinylarge.integrate.calibration import GateCalibration, OperatingPoint, calibrate_gate
from tinylarge.net import load_link, transfer_energy_j, transfer_latency_s

if TYPE_CHECKING:
    from torch import nn

    from tinylarge.data import Dataset


class CascadeConfig(GateCalibration):
    """A cascade of the int8 ``student`` (run in TFLM on ``device``) and the ``teacher``
    checkpoint, costed over ``links``; the gate and its target as in :class:`GateCalibration`."""

    teacher: pattern.ExistingFile
    student: pattern.ExistingFile
    dataset: str | None = Field(None, description="default: the teacher checkpoint's")
    device: pattern.DeviceName = "nrf52840"
    links: list[pattern.LinkName] = Field(default_factory=pattern.all_links, min_length=1)


@dataclass
class DeviceCost:
    """What one inference costs the device: local int8 inference, and idle power while waiting."""

    device: str
    infer_energy_j: float
    infer_latency_s: float
    sleep_power_w: float
    input_size_bytes: int


@dataclass(kw_only=True)
class CascadeResult(pattern.PatternResult, OperatingPoint):
    """The deployable operating point (the first split's threshold on its evaluation half), every
    split's point, that half's accuracy/offload curve and the device energy per link. ``summary``:
    means and 95 % intervals over the splits, the cascade paired with the teacher alone
    (``vs_teacher``) and with the student alone (``vs_student``)."""

    config: GateCalibration
    gate: str
    curve: list[dict[str, float]]
    splits: list[OperatingPoint] = field(default_factory=list)
    student_teacher_agreement: float | None = None
    energy: list[dict[str, Any]] = field(default_factory=list)


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


def cascade_result(
    small_logits: np.ndarray,
    big_logits: np.ndarray,
    y: np.ndarray,
    config: GateCalibration,
    cost: DeviceCost | None = None,
    links: list[str] | None = None,
) -> CascadeResult:
    """Calibrate and evaluate over ``config.n_splits`` splits of ``(small_logits, big_logits, y)``.

    ``small_logits`` are the device model's dequantized int8 outputs ``(n, k)``; ``big_logits``
    the LargeML model's ``(n, k)``. With ``cost``, the energy per link of ``links`` (default:
    every link of the catalog) at the deployable point.
    """
    n = len(y)
    big_ok = big_logits.reshape(n, -1).argmax(1) == y
    points, curve, summary = calibrate_gate(small_logits, y, big_ok, config, "student", "teacher")
    first = points[0]
    agreement = small_logits.reshape(n, -1).argmax(1) == big_logits.reshape(n, -1).argmax(1)
    result = CascadeResult(
        config=config,
        gate=str(config.gate),
        **first.to_dict(),
        curve=curve.points(),
        splits=points,
        student_teacher_agreement=float(agreement.mean()),
        summary=summary,
    )
    if cost is not None:
        result.energy = energy_table(first.offload_fraction, cost, links or pattern.all_links())
        result.summary["device"] = cost.device
    return result


def cascade_inputs(
    student_tflite: str | Path, teacher: nn.Module, dataset: Dataset, device: str = "nrf52840"
) -> tuple[np.ndarray, np.ndarray, DeviceCost]:
    """The int8 student's dequantized outputs (run in TFLM), the teacher's logits on the test
    set, and what one student inference costs on ``device`` (catalog)."""
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.layout import to_model_layout
    from tinylarge.tiny.profile import profile
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


def run_cascade(config: CascadeConfig, **io: Unpack[pattern.PatternIO]) -> CascadeResult:
    """Run the deployed int8 student in TFLM and the teacher in torch on the test set, then
    calibrate (repeated splits) and cost the cascade on ``config.device`` over ``config.links``.

    Nothing is trained (``cache`` unused) and nothing is written (``out_dir`` unused); the
    dataset defaults to the teacher checkpoint's, split as it was trained.
    """
    teacher, ds = pattern.checkpoint_io(config.teacher, config, io)
    small, big, cost = cascade_inputs(config.student, teacher, ds, config.device)
    return cascade_result(small, big, ds.y_test, config, cost, config.links)
