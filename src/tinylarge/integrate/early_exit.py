"""Early exit on the device: a side classifier after block ``k`` answers the easy inputs, the rest
of the network runs only for the hard ones.

After BranchyNet (Teerapittayanon et al., ICPR 2016) for the confidence-gated exit, trained as in
Shallow-Deep Networks (Kaya et al., ICML 2019): the backbone stays frozen and only the internal
classifier is trained (``tinylarge.train.fit`` with a frozen module under an extra head), so the
final exit keeps its accuracy exactly. Deployed as three int8 graphs on the device --
``blocks[:k]`` (A), the exit head (E) and the rest (B) -- with one requantization of the block-``k``
activation into E's and B's input scale, as the device would do it. The gate is calibrated exactly
as the cascade's (:mod:`tinylarge.integrate.calibration`), on the validation rows the training
held out, and reported on the test set: the side exit is the local answer, the final exit the
further one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import torch
from pydantic import Field
from torch import nn

from tinylarge.data import Dataset
from tinylarge.errors import TinylargeError
from tinylarge.integrate import pattern
from tinylarge.integrate.calibration import (
    GateCalibration,
    OperatingPoint,
    calibrate_gate,
    calibrate_on_validation,
)
from tinylarge.integrate.pattern import DeviceName, ExistingFile, PatternIO, PatternResult
from tinylarge.tiny.layout import (
    DevicePart,
    FlattenChannelsLast,
    requantize,
    to_model_layout,
    to_torch_layout,
)
from tinylarge.train import TrainConfig, fit
from tinylarge.train.stats import mean_ci


class EarlyExitConfig(GateCalibration):
    """Which model, where the exit sits, how it is trained, and the gate's target (vs the final
    exit) as in :class:`GateCalibration`. The head trains on the rows the preset training with
    ``seed`` trained on and the gate calibrates on the rows it held out (the model's checkpoint
    must come from a training run with the same ``seed``, as the demo's do)."""

    model: ExistingFile = Field(description="the device model's checkpoint (a BlockNet)")
    dataset: str | None = Field(None, description="default: the checkpoint's")
    exit_after: int = Field(1, ge=1, description="blocks before the exit")
    epochs: int = Field(15, ge=1)
    lr: float = Field(3e-3, gt=0)
    device: DeviceName = "nrf52840"
    n_int8_calibration: int = Field(200, ge=8, description="samples to calibrate quantization")


def exit_head(channels: int, spatial: tuple[int, int], n_classes: int) -> nn.Module:
    """The side classifier: average-pool the block-``k`` map down to about 4x4 (a global pool
    throws away the spatial layout early features still need), flatten, one linear layer."""
    h, w = spatial
    kernel = (max(1, h // 4), max(1, w // 4))
    out_h, out_w = h // kernel[0], w // kernel[1]
    return nn.Sequential(
        nn.AvgPool2d(kernel, stride=kernel),
        FlattenChannelsLast(),
        nn.Linear(channels * out_h * out_w, n_classes),
    )


def train_exit_head(
    net: nn.Module, dataset: Dataset, config: EarlyExitConfig, progress: bool = False
) -> nn.Module:
    """Train only the exit head on the frozen ``blocks[:k]`` (Kaya et al.'s IC-only training)."""
    torch.manual_seed(config.seed)
    prefix = nn.Sequential(*net.blocks[: config.exit_after]).eval()
    with torch.no_grad():
        shape = prefix(torch.from_numpy(dataset.x_train[:1])).shape
    head = exit_head(shape[1], tuple(shape[2:]), dataset.info.n_classes)
    val_fraction = pattern.default_val_fraction(dataset)  # the preset's: the same held-out rows
    train_config = TrainConfig(
        epochs=config.epochs, lr=config.lr, seed=config.seed, val_fraction=val_fraction
    )
    fit(nn.Sequential(prefix, head), dataset, train_config, frozen=prefix, progress=progress,
        name="exit head")  # fmt: skip
    return head.eval()


@dataclass(kw_only=True)
class EarlyExitResult(PatternResult, OperatingPoint):
    """The deployable operating point (first split) and the device cost it buys. The local answer
    is the side exit (``small_accuracy``), the further one the final exit (``big_accuracy``), and
    ``offload_fraction`` the share that runs on. ``summary``: means and 95 % intervals over the
    splits, the system paired with the final exit alone (``vs_final_exit``) and with the side exit
    alone (``vs_side_exit``), and the energy saving."""

    config: EarlyExitConfig
    latency_s: float
    full_latency_s: float
    energy_j: float
    full_energy_j: float
    curve: list[dict[str, float]] = field(default_factory=list)
    splits: list[OperatingPoint] = field(default_factory=list)
    graphs: dict[str, str] = field(default_factory=dict)

    @property
    def exit_fraction(self) -> float:
        return 1.0 - self.offload_fraction

    @property
    def energy_saving(self) -> float:
        return 1.0 - self.energy_j / self.full_energy_j

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "energy_saving": self.energy_saving}


def _int8_logits(act: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Run graph ``dst`` on graph ``src``'s int8 output; dequantized ``(n, k)`` logits."""
    from tinylarge.tiny.runtime import dequantize

    out = dst.invoke_int8(requantize(act, src, dst))
    return dequantize(out, dst.output_scale, dst.output_zero_point).reshape(len(act), -1)


def deploy_exit(
    net: nn.Module, head: nn.Module, dataset: Dataset, config: EarlyExitConfig, workdir: Path,
    x: np.ndarray | None = None,
) -> tuple[dict[str, Path], np.ndarray, np.ndarray]:  # fmt: skip
    """Quantize A / E / B, run them in TFLM on ``x`` (default: the test set): (graphs, exit
    logits, final logits)."""
    from tinylarge.integrate.split import server_part
    from tinylarge.tiny.quantize import quantize_model
    from tinylarge.tiny.runtime import TflmRuntime

    k = config.exit_after
    rng = np.random.default_rng(config.seed)
    x_cal = dataset.x_train[rng.permutation(len(dataset.x_train))[: config.n_int8_calibration]]
    with torch.no_grad():
        f_cal = to_torch_layout(
            DevicePart(net, k, with_head=False)(torch.from_numpy(x_cal)).numpy()
        )
    paths = {
        "A": quantize_model(DevicePart(net, k, False), x_cal, workdir / "exit_A.tflite"),
        # NCHW modules + NCHW calibration: quantize_model gives them channels-last inputs, so
        # E and B take the NHWC activation exactly as A leaves it
        "E": quantize_model(head, f_cal, workdir / "exit_E.tflite"),
        "B": quantize_model(server_part(net, k), f_cal, workdir / "exit_B.tflite"),
    }
    rt = {name: TflmRuntime(p) for name, p in paths.items()}
    return paths, *exit_logits(rt, dataset.x_test if x is None else x)


def exit_logits(rt: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(exit logits, final logits)`` of the int8 graphs ``rt["A"]``, ``rt["E"]``,
    ``rt["B"]`` (TFLM runtimes) on float NCHW inputs ``x``: A runs once, E and B on its int8
    activation."""
    from tinylarge.tiny.runtime import quantize

    a = rt["A"]
    act = a.invoke_int8(quantize(to_model_layout(x), a.input_scale, a.input_zero_point))
    return _int8_logits(act, a, rt["E"]), _int8_logits(act, a, rt["B"])


def run_early_exit(config: EarlyExitConfig, **io: Unpack[PatternIO]) -> EarlyExitResult:
    """Train the exit, deploy A/E/B as int8 graphs, run them in TFLM, calibrate, cost on device.

    The three ``.tflite`` are written to ``out_dir`` (default: a temporary folder removed after
    the run); ``cache`` is unused (the head trains in seconds).
    """
    from tinylarge.tiny.profile import profile

    net, ds = pattern.checkpoint_io(config.model, config, io)
    k = config.exit_after
    if not 1 <= k < len(net.blocks):
        raise TinylargeError(
            f"exit_after {k} is not a cut inside the model: valid 1..{len(net.blocks) - 1}"
        )
    head = train_exit_head(net, ds, config, bool(io.get("progress")))
    rows = pattern.validation_rows(ds, config.seed)
    n_val = len(rows)
    with pattern.workdir(io.get("out_dir")) as work:
        x = np.concatenate([ds.x_train[rows], ds.x_test])
        paths, exit_logits, final_logits = deploy_exit(net, head, ds, config, work, x)
        cost = {name: profile(str(p), config.device) for name, p in paths.items()}
    y = np.concatenate([ds.y_train[rows], ds.y_test])
    ok = final_logits.argmax(1) == y
    if n_val:
        val = (exit_logits[:n_val], y[:n_val], ok[:n_val])
        test = (exit_logits[n_val:], y[n_val:], ok[n_val:])
        first, curve, summary = calibrate_on_validation(
            val, test, config, "side_exit", "final_exit"
        )
        points = [first]
    else:
        points, curve, summary = calibrate_gate(
            exit_logits, y, ok, config, "side_exit", "final_exit"
        )
    first_s = cost["A"].latency_s + cost["E"].latency_s
    first_j = cost["A"].energy_j + cost["E"].energy_j
    p = points[0]
    full_j = cost["A"].energy_j + cost["B"].energy_j
    saving = [1.0 - (first_j + q.offload_fraction * cost["B"].energy_j) / full_j for q in points]
    if n_val:  # per test sample the saving is 1 - (first_j + runs_on * B_j) / full_j: linear
        runs_on = summary["offload_fraction"]
        b = cost["B"].energy_j / full_j
        summary["energy_saving"] = {
            **runs_on,
            "mean": 1.0 - first_j / full_j - b * runs_on["mean"],
            "ci_low": 1.0 - first_j / full_j - b * runs_on["ci_high"],
            "ci_high": 1.0 - first_j / full_j - b * runs_on["ci_low"],
            "std": b * runs_on["std"],
        }
    else:
        ratio = p.n_eval / p.n_calibration
        summary["energy_saving"] = mean_ci(saving, test_train_ratio=ratio).to_dict()
    return EarlyExitResult(
        config=config,
        **p.to_dict(),
        latency_s=first_s + p.offload_fraction * cost["B"].latency_s,
        full_latency_s=cost["A"].latency_s + cost["B"].latency_s,
        energy_j=first_j + p.offload_fraction * cost["B"].energy_j,
        full_energy_j=full_j,
        curve=curve.points(),  # offload_fraction: the share that runs on
        splits=points,
        graphs={name: str(path) for name, path in paths.items()} if io.get("out_dir") else {},
        summary=summary,
    )
