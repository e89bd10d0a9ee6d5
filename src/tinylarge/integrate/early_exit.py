"""Early exit on the device: a side classifier after block ``k`` answers the easy inputs, the rest
of the network runs only for the hard ones.

After BranchyNet (Teerapittayanon et al., ICPR 2016) for the confidence-gated exit, trained as in
Shallow-Deep Networks (Kaya et al., ICML 2019): the backbone stays frozen and only the internal
classifier is trained, so the final exit keeps its accuracy exactly. Deployed as three int8 graphs
on the device -- ``blocks[:k]`` (A), the exit head (E) and the rest (B) -- with one requantization
of the block-``k`` activation into E's and B's input scale, as the device would do it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from tinylarge.data import Dataset
from tinylarge.integrate.gates import (
    Gate,
    calibrate_threshold,
    confidence,
    offload_curve,
    softmax,
)
from tinylarge.integrate.split_profile import DevicePart, server_part


class EarlyExitConfig(BaseModel):
    """Where the exit sits, how it is trained, and the accuracy it may give up."""

    model_config = ConfigDict(extra="forbid")

    exit_after: int = Field(1, ge=1, description="blocks before the exit")
    gate: Gate = Gate.MAX_PROB
    max_accuracy_drop: float = Field(0.002, ge=0.0, le=1.0, description="vs the final exit")
    epochs: int = Field(15, ge=1)
    lr: float = Field(3e-3, gt=0)
    calibration_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    device: str = "nrf52840"
    n_calibration: int = Field(200, ge=8, description="samples to calibrate int8 quantization")
    seed: int = 0


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


class FlattenChannelsLast(nn.Module):
    """Flatten in NHWC order, the device's layout: the int8 graph then needs no TRANSPOSE."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)


def train_exit_head(net: nn.Module, dataset: Dataset, config: EarlyExitConfig) -> nn.Module:
    """Train only the exit head on frozen block-``k`` features (Kaya et al.'s IC-only training)."""
    torch.manual_seed(config.seed)
    k = config.exit_after
    with torch.no_grad():
        feats = DevicePart(net.eval(), k, with_head=False)(torch.from_numpy(dataset.x_train))
        feats = feats.permute(0, 3, 1, 2).contiguous()
    head = exit_head(feats.shape[1], tuple(feats.shape[2:]), dataset.info.n_classes)
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=1e-4)
    y = torch.from_numpy(dataset.y_train)
    gen = torch.Generator().manual_seed(config.seed)
    for _ in range(config.epochs):
        for idx in torch.randperm(len(y), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(head(feats[idx]), y[idx]).backward()
            opt.step()
    return head.eval()


@dataclass
class EarlyExitResult:
    """Operating point on held-out data and the device cost it buys."""

    exit_after: int
    threshold: float
    exit_fraction: float
    accuracy: float
    exit_accuracy: float
    final_accuracy: float
    latency_s: float
    full_latency_s: float
    energy_j: float
    full_energy_j: float
    n_eval: int
    curve: list[dict[str, float]] = field(default_factory=list)
    graphs: dict[str, str] = field(default_factory=dict)

    @property
    def energy_saving(self) -> float:
        return 1.0 - self.energy_j / self.full_energy_j

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "energy_saving": self.energy_saving}


def _requantize(q: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    from tinylarge.tiny.runtime import dequantize, quantize

    x = dequantize(q, src.output_scale, src.output_zero_point)
    return quantize(x, dst.input_scale, dst.input_zero_point)


def run_early_exit(
    net: nn.Module, dataset: Dataset, config: EarlyExitConfig | None, workdir: str | Path
) -> EarlyExitResult:
    """Train the exit, deploy A/E/B as int8 graphs, run them in TFLM, calibrate, cost on device."""
    from tinylarge.tiny.profile import profile
    from tinylarge.tiny.quantize import quantize_model, to_model_layout
    from tinylarge.tiny.runtime import TflmRuntime, dequantize, quantize

    config = config or EarlyExitConfig()
    workdir = Path(workdir)
    k = config.exit_after
    net = net.eval()
    head = train_exit_head(net, dataset, config)

    rng = np.random.default_rng(config.seed)
    x_cal = dataset.x_train[rng.permutation(len(dataset.x_train))[: config.n_calibration]]
    with torch.no_grad():
        f_cal = DevicePart(net, k, with_head=False)(torch.from_numpy(x_cal)).numpy()
    f_cal_nchw = np.ascontiguousarray(f_cal.transpose(0, 3, 1, 2))
    paths = {
        "A": quantize_model(DevicePart(net, k, False), x_cal, workdir / "exit_A.tflite"),
        # NCHW modules + NCHW calibration: quantize_model gives them channels-last inputs, so
        # E and B take the NHWC activation exactly as A leaves it
        "E": quantize_model(head, f_cal_nchw, workdir / "exit_E.tflite"),
        "B": quantize_model(server_part(net, k), f_cal_nchw, workdir / "exit_B.tflite"),
    }
    rt = {name: TflmRuntime(p) for name, p in paths.items()}
    xq = quantize(to_model_layout(dataset.x_test), rt["A"].input_scale, rt["A"].input_zero_point)
    act = rt["A"].invoke_int8(xq)
    n = len(dataset.y_test)
    exit_logits = dequantize(
        rt["E"].invoke_int8(_requantize(act, rt["A"], rt["E"])),
        rt["E"].output_scale,
        rt["E"].output_zero_point,
    ).reshape(n, -1)
    final_logits = dequantize(
        rt["B"].invoke_int8(_requantize(act, rt["A"], rt["B"])),
        rt["B"].output_scale,
        rt["B"].output_zero_point,
    ).reshape(n, -1)

    y = dataset.y_test
    order = np.random.default_rng(config.seed).permutation(n)
    n_cal = int(round(config.calibration_fraction * n))
    cal, ev = order[:n_cal], order[n_cal:]
    score = confidence(softmax(exit_logits.astype(np.float64)), config.gate)
    exit_ok, final_ok = exit_logits.argmax(1) == y, final_logits.argmax(1) == y
    curve = offload_curve(score[cal], exit_ok[cal], final_ok[cal])
    threshold = calibrate_threshold(curve, float(final_ok[cal].mean()) - config.max_accuracy_drop)
    go_on = score[ev] < threshold  # not confident: run the rest of the network
    answer_ok = np.where(go_on, final_ok[ev], exit_ok[ev])

    cost = {name: profile(str(p), config.device) for name, p in paths.items()}
    first = cost["A"].latency_s + cost["E"].latency_s
    first_j = cost["A"].energy_j + cost["E"].energy_j
    frac_on = float(go_on.mean())
    ev_curve = offload_curve(score[ev], exit_ok[ev], final_ok[ev])
    step = max(1, len(ev) // 200)
    return EarlyExitResult(
        exit_after=k,
        threshold=threshold,
        exit_fraction=1.0 - frac_on,
        accuracy=float(answer_ok.mean()),
        exit_accuracy=float(exit_ok[ev].mean()),
        final_accuracy=float(final_ok[ev].mean()),
        latency_s=first + frac_on * cost["B"].latency_s,
        full_latency_s=cost["A"].latency_s + cost["B"].latency_s,
        energy_j=first_j + frac_on * cost["B"].energy_j,
        full_energy_j=cost["A"].energy_j + cost["B"].energy_j,
        n_eval=len(ev),
        curve=[
            {"continue_fraction": float(f), "accuracy": float(a)}
            for f, a in zip(
                ev_curve.offload_fraction[::step], ev_curve.accuracy[::step], strict=True
            )
        ],
        graphs={name: str(p) for name, p in paths.items()},
    )
