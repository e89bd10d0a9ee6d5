"""Costs every cut of a ``BlockNet`` for split computing: quantize the device part of each cut to a
real int8 ``.tflite``, profile it on a catalog device (measured TFLM arena), cost the float tail on
the server's catalog profile, and measure the accuracy of the split pipeline itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from tinylarge.data import Dataset
from tinylarge.integrate.split import CutCost, Objective, SplitResult, choose, rate_sweep
from tinylarge.models import BlockNet
from tinylarge.net import list_links, load_link


class SplitConfig(BaseModel):
    """Where the two halves run, which links to compare and what to minimise."""

    model_config = ConfigDict(extra="forbid")

    device: str = "stm32h7a3"
    server: str = "jetson-orin-nano"
    links: list[str] = Field(default_factory=list_links)
    objective: Objective = Objective.LATENCY
    n_calibration: int = Field(200, ge=8)
    n_eval: int = Field(300, ge=0, description="test samples for per-cut accuracy (0: skip)")
    emit_c: bool = Field(False, description="also generate C for every device part")
    seed: int = 0


class DevicePart(nn.Module):
    """``blocks[:k]`` (plus the head when ``with_head``), with a channels-last feature output so
    the int8 activation leaves the device in the layout it is computed in (no TRANSPOSE op)."""

    def __init__(self, net: nn.Module, k: int, with_head: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(list(net.blocks[:k]))
        self.head = net.head if with_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x) if self.head is not None else x.permute(0, 2, 3, 1)


def server_part(net: BlockNet, k: int) -> BlockNet:
    """``blocks[k:]`` then the head (sharing ``net``'s weights), on NCHW float activations."""
    return BlockNet(list(net.blocks[k:]), net.head)


def server_latency_s(macs: int, n_layers: int, server: str) -> float:
    """Float tail on the server, from its catalog cost model (convolution cycles per MAC)."""
    from tinylarge.tiny.devices import load_device

    dev = load_device(server)
    cm = dev.cost_model
    return (macs * cm.conv_cycles_per_mac + n_layers * cm.op_overhead_cycles) / dev.clock_hz


def _tail_accuracy(net: nn.Module, k: int, act: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        logits = net.eval().forward_from(torch.from_numpy(act), k)
    return float((logits.argmax(1).numpy() == y).mean())


def profile_cuts(
    net: nn.Module, dataset: Dataset, config: SplitConfig, workdir: str | Path
) -> list[CutCost]:
    """One ``CutCost`` per cut ``0..len(net.blocks) + 1`` (see ``tinylarge.integrate.split``)."""
    from tinylarge.models import count_macs
    from tinylarge.tiny.profile import profile
    from tinylarge.tiny.quantize import quantize_model, to_model_layout
    from tinylarge.tiny.runtime import TflmRuntime, dequantize, quantize

    workdir = Path(workdir)
    net = net.eval()
    n_blocks = len(net.blocks)
    rng = np.random.default_rng(config.seed)
    x_cal = dataset.x_train[rng.permutation(len(dataset.x_train))[: config.n_calibration]]
    x_ev, y_ev = dataset.x_test[: config.n_eval], dataset.y_test[: config.n_eval]
    shape = tuple(dataset.info.input_shape)
    cuts: list[CutCost] = []
    for k in range(n_blocks + 2):
        on_device = min(k, n_blocks)
        tail_macs = count_macs(server_part(net, on_device), _act_shape(net, on_device, shape))
        if k == 0:
            full = workdir / f"cut{n_blocks + 1}.tflite"
            cuts.append(CutCost(k, 0.0, 0.0, 0.0, int(np.prod(shape)), True))
            continue
        path = quantize_model(
            DevicePart(net, on_device, with_head=k == n_blocks + 1),
            x_cal,
            workdir / f"cut{k}.tflite",
            seed=config.seed,
        )
        prof = profile(str(path), config.device)
        runtime = TflmRuntime(path, arena_bytes=prof.tflm_arena_bytes)
        sent = 0 if k == n_blocks + 1 else int(np.prod(runtime.output_shape[1:]))
        cut = CutCost(
            cut=k,
            device_latency_s=prof.latency_s,
            device_energy_j=prof.energy_j,
            server_latency_s=0.0
            if sent == 0
            else server_latency_s(tail_macs, len(net.blocks) - on_device + 1, config.server),
            sent_bytes=sent,
            fits=prof.fits,
            device_flash_bytes=prof.flash_bytes,
            device_ram_bytes=prof.ram_bytes,
            tflite_path=str(path),
            reasons=list(prof.reasons),
        )
        if config.n_eval:
            out = runtime.invoke_int8(
                quantize(to_model_layout(x_ev), runtime.input_scale, runtime.input_zero_point)
            )
            act = dequantize(out, runtime.output_scale, runtime.output_zero_point)
            if sent == 0:
                cut.accuracy = float((act.reshape(len(y_ev), -1).argmax(1) == y_ev).mean())
            else:  # NHWC int8 activation -> server's NCHW float tail
                act = np.ascontiguousarray(act.transpose(0, 3, 1, 2)).astype(np.float32)
                cut.accuracy = _tail_accuracy(net, on_device, act, y_ev)
        if config.emit_c:
            from tinylarge.tiny.codegen.api import codegen

            codegen(path, workdir / f"cut{k}_c", measure_tflm_arena=False)
        cuts.append(cut)
    if config.n_eval:  # cut 0 ships the int8 input: quantized with the full model's input scale
        full_rt = TflmRuntime(full)
        xq = quantize(x_ev, full_rt.input_scale, full_rt.input_zero_point)
        x_back = dequantize(xq, full_rt.input_scale, full_rt.input_zero_point).astype(np.float32)
        cuts[0].accuracy = _tail_accuracy(net, 0, x_back, y_ev)
    return cuts


def reprofile(cuts: list[CutCost], device: str) -> list[CutCost]:
    """The same cuts (same int8 graphs, same accuracy) costed on another catalog device."""
    from dataclasses import replace

    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.profile import analyze_model, profile_facts

    dev = load_device(device)
    out = []
    for c in cuts:
        if c.tflite_path is None:  # cut 0: nothing runs on the device
            out.append(replace(c))
            continue
        prof = profile_facts(analyze_model(c.tflite_path), dev)
        out.append(
            replace(
                c,
                device_latency_s=prof.latency_s,
                device_energy_j=prof.energy_j,
                fits=prof.fits,
                device_flash_bytes=prof.flash_bytes,
                device_ram_bytes=prof.ram_bytes,
                reasons=list(prof.reasons),
            )
        )
    return out


def split_result(cuts: list[CutCost], n_blocks: int, config: SplitConfig) -> SplitResult:
    """Choose per link and sweep the rate over already-costed cuts."""
    from tinylarge.tiny.devices import load_device

    sleep_w = load_device(config.device).sleep_power_w
    links = [load_link(n) for n in config.links]
    reference = load_link("5g-nr")  # sweep the rate with 5G NR's round trip and radio power
    return SplitResult(
        device=config.device,
        server=config.server,
        n_blocks=n_blocks,
        cuts=cuts,
        choices=choose(cuts, links, sleep_w, config.objective),
        sweep={
            str(obj): rate_sweep(cuts, reference, sleep_w, obj)
            for obj in (Objective.LATENCY, Objective.ENERGY)
        },
    )


def _act_shape(net: nn.Module, k: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(net.forward_until(torch.zeros(1, *input_shape), k).shape[1:])


def run_split(
    net: nn.Module, dataset: Dataset, config: SplitConfig | None, workdir: str | Path
) -> SplitResult:
    """Profile every cut, then choose per link and sweep the rate (Neurosurgeon-style)."""
    config = config or SplitConfig()
    cuts = profile_cuts(net, dataset, config, workdir)
    return split_result(cuts, len(net.blocks), config)
