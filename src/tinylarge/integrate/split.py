"""Split computing (TinyML -> LargeML): the device runs the first blocks of a network in int8,
sends the int8 activation over the uplink, and the server finishes the network.

After Kang et al., "Neurosurgeon: Collaborative Intelligence Between the Cloud and Mobile Edge"
(ASPLOS 2017): profile every cut, then pick the cut minimising end-to-end latency or device energy
for the current uplink rate. Cut ``k`` puts ``blocks[:k]`` on the device (``k = 0``: everything on
the server, the device sends its int8 input; ``k = n_blocks + 1``: everything, head included, on
the device, nothing is sent). Device costs come from the real int8 ``.tflite`` of each device part
profiled on a catalog device (measured TFLM arena); the server's from its catalog cost model.

For a fixed link except its rate ``r``, both objectives are linear in ``u = 1/r``:
``latency_k = A_k + 8 S_k u`` and ``energy_k = E_k + 8 S_k (P_tx + P_sleep) u`` (``S_k``: bytes
sent), so the best cut over all rates is the lower envelope of ``n_blocks + 2`` lines:
``rate_sweep`` computes its breakpoints, and the tests check it against brute force.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from tinylarge.data import Dataset
from tinylarge.integrate import pattern
from tinylarge.models import BlockNet
from tinylarge.net import LinkProfile, load_link
from tinylarge.tiny.layout import DevicePart, to_model_layout, to_torch_layout


class Objective(StrEnum):
    LATENCY = "latency"
    ENERGY = "energy"


class SplitConfig(BaseModel):
    """Which model, where its two halves run, which links to compare and what to minimise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: pattern.ExistingFile = Field(description="a split-able model checkpoint (a BlockNet)")
    dataset: str | None = Field(None, description="default: the checkpoint's")
    device: pattern.DeviceName = "stm32h7a3"
    server: pattern.DeviceName = "jetson-orin-nano"
    links: list[pattern.LinkName] = Field(default_factory=pattern.all_links, min_length=1)
    objective: Objective = Objective.LATENCY
    n_calibration: int = Field(200, ge=8)
    n_eval: int = Field(300, ge=0, description="test samples for per-cut accuracy (0: skip)")
    emit_c: bool = Field(False, description="also generate C for every device part")
    seed: int = 0


@dataclass
class CutCost:
    """What cut ``k`` costs, independent of the link."""

    cut: int
    device_latency_s: float
    device_energy_j: float
    server_latency_s: float
    sent_bytes: int  # int8 activation (or input) crossing the link; 0 when all on device
    fits: bool
    device_flash_bytes: int = 0
    device_ram_bytes: int = 0
    accuracy: float | None = None
    tflite_path: str | None = None
    reasons: list[str] = field(default_factory=list)


def line(
    c: CutCost, link: LinkProfile, sleep_power_w: float, objective: Objective
) -> tuple[float, float]:
    """``(intercept, slope)`` of cut ``c``'s objective as a function of ``u = 1/rate_bps``."""
    if c.sent_bytes == 0:  # all on device: no radio, no round trip, no server
        value = c.device_latency_s if objective is Objective.LATENCY else c.device_energy_j
        return value, 0.0
    bits = 8.0 * (c.sent_bytes + link.overhead_bytes)
    wait_s = link.rtt_s + c.server_latency_s
    if objective is Objective.LATENCY:
        return c.device_latency_s + wait_s, bits
    return c.device_energy_j + sleep_power_w * wait_s, bits * (link.tx_power_w + sleep_power_w)


def end_to_end(c: CutCost, link: LinkProfile, sleep_power_w: float, objective: Objective) -> float:
    """Latency (s) or device energy (J) of one inference with cut ``c`` over ``link``."""
    a, b = line(c, link, sleep_power_w, objective)
    return a + b / link.rate_bps


def rate_sweep(
    cuts: list[CutCost], link: LinkProfile, sleep_power_w: float, objective: Objective
) -> list[dict[str, float]]:
    """Where the best cut changes as the rate grows: ``[{"cut", "from_rate_bps", "to_rate_bps"}]``.

    The lower envelope of the lines ``a_k + b_k u`` over ``u = 1/r`` in ``(0, inf)``, found by
    walking from ``u = inf`` (rate 0: the cut sending least wins) towards ``u = 0``.
    """
    feasible = [c for c in cuts if c.fits]
    lines = [line(c, link, sleep_power_w, objective) for c in feasible]
    # at u -> inf the smallest slope wins (then the smallest intercept)
    cur = min(range(len(lines)), key=lambda i: (lines[i][1], lines[i][0]))
    u = np.inf
    segments = []
    while True:
        a0, b0 = lines[cur]
        # the next breakpoint: the largest u* < u where a steeper line with a lower intercept
        # crosses the current one; among equal u*, the steepest is lowest just below it
        nxt, u_next = None, -1.0
        for i, (a, b) in enumerate(lines):
            if b > b0 and a < a0:
                u_star = (a0 - a) / (b - b0)
                better = u_star > u_next or (u_star == u_next and b > lines[nxt][1])
                if u_star < u and better:
                    nxt, u_next = i, u_star
        segments.append(
            {
                "cut": feasible[cur].cut,
                "from_rate_bps": 0.0 if np.isinf(u) else 1.0 / u,
                "to_rate_bps": np.inf if nxt is None else 1.0 / u_next,
            }
        )
        if nxt is None:
            return segments
        cur, u = nxt, u_next


def brute_force_cut(
    cuts: list[CutCost], link: LinkProfile, sleep_power_w: float, objective: Objective
) -> int:
    """Reference: evaluate every feasible cut one by one and keep the cheapest."""
    best, best_value = None, np.inf
    for c in cuts:
        if not c.fits:
            continue
        v = end_to_end(c, link, sleep_power_w, objective)
        if v < best_value:
            best, best_value = c.cut, v
    assert best is not None
    return best


@dataclass
class SplitChoice:
    """The chosen cut for one link, with both of its costs, next to the two extremes
    (``all_device_*`` is ``None`` when the whole network does not fit the device)."""

    link: str
    rate_bps: float
    objective: str
    best_cut: int
    brute_force_cut: int
    latency_s: float
    energy_j: float
    all_server_latency_s: float
    all_server_energy_j: float
    all_device_latency_s: float | None
    all_device_energy_j: float | None


def choose(
    cuts: list[CutCost],
    links: list[LinkProfile],
    sleep_power_w: float,
    objective: Objective,
) -> list[SplitChoice]:
    """The best cut on each link (from the rate sweep) with the extremes and a brute-force check."""
    by_cut = {c.cut: c for c in cuts}
    last = by_cut[max(by_cut)]
    out = []
    for link in links:
        sweep = rate_sweep(cuts, link, sleep_power_w, objective)
        chosen = next(
            s["cut"] for s in sweep if s["from_rate_bps"] <= link.rate_bps < s["to_rate_bps"]
        )

        def cost(c: CutCost, obj: Objective, link: LinkProfile = link) -> float:
            return end_to_end(c, link, sleep_power_w, obj)

        out.append(
            SplitChoice(
                link=link.name,
                rate_bps=link.rate_bps,
                objective=str(objective),
                best_cut=int(chosen),
                brute_force_cut=brute_force_cut(cuts, link, sleep_power_w, objective),
                latency_s=cost(by_cut[chosen], Objective.LATENCY),
                energy_j=cost(by_cut[chosen], Objective.ENERGY),
                all_server_latency_s=cost(by_cut[0], Objective.LATENCY),
                all_server_energy_j=cost(by_cut[0], Objective.ENERGY),
                all_device_latency_s=cost(last, Objective.LATENCY) if last.fits else None,
                all_device_energy_j=cost(last, Objective.ENERGY) if last.fits else None,
            )
        )
    return out


@dataclass(kw_only=True)
class SplitResult(pattern.PatternResult):
    """Every cut's cost, the choice per link, and the rate ranges over which each cut is best."""

    config: SplitConfig
    n_blocks: int
    cuts: list[CutCost]
    choices: list[SplitChoice]
    sweep: dict[str, list[dict[str, float]]]

    @property
    def optimiser_matches_brute_force(self) -> bool:
        return all(c.best_cut == c.brute_force_cut for c in self.choices)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["optimiser_matches_brute_force"] = self.optimiser_matches_brute_force
        return d


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
    """One ``CutCost`` per cut ``0..len(net.blocks) + 1`` (see the module docstring)."""
    from tinylarge.models import count_macs
    from tinylarge.tiny.profile import profile
    from tinylarge.tiny.quantize import quantize_model
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
        part = DevicePart(net, on_device, with_head=k == n_blocks + 1)
        path = quantize_model(part, x_cal, workdir / f"cut{k}.tflite", seed=config.seed)
        prof = profile(str(path), config.device)
        runtime = TflmRuntime(path, arena_bytes=prof.tflm_arena_bytes)
        sent = 0 if k == n_blocks + 1 else int(np.prod(runtime.output_shape[1:]))
        tail_s = server_latency_s(tail_macs, n_blocks - on_device + 1, config.server)
        cut = _costed(CutCost(k, 0.0, 0.0, tail_s if sent else 0.0, sent, True), prof)
        cut.tflite_path = str(path)
        if config.n_eval:
            out = runtime.invoke_int8(
                quantize(to_model_layout(x_ev), runtime.input_scale, runtime.input_zero_point)
            )
            act = dequantize(out, runtime.output_scale, runtime.output_zero_point)
            if sent == 0:
                cut.accuracy = float((act.reshape(len(y_ev), -1).argmax(1) == y_ev).mean())
            else:  # NHWC int8 activation -> server's NCHW float tail
                act = to_torch_layout(act).astype(np.float32)
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


def _costed(c: CutCost, prof: Any) -> CutCost:
    """``c`` with the device-side costs of the profile ``prof`` of its int8 graph."""
    return replace(
        c, device_latency_s=prof.latency_s, device_energy_j=prof.energy_j, fits=prof.fits,
        device_flash_bytes=prof.flash_bytes, device_ram_bytes=prof.ram_bytes,
        reasons=list(prof.reasons),
    )  # fmt: skip


def reprofile(cuts: list[CutCost], device: str) -> list[CutCost]:
    """The same cuts (same int8 graphs, same accuracy) costed on another catalog device."""
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.profile import analyze_model, profile_facts

    dev = load_device(device)
    return [  # cut 0 runs nothing on the device
        _costed(c, profile_facts(analyze_model(c.tflite_path), dev))
        if c.tflite_path
        else replace(c)
        for c in cuts
    ]


def split_result(cuts: list[CutCost], n_blocks: int, config: SplitConfig) -> SplitResult:
    """Choose per link and sweep the rate over already-costed cuts."""
    from tinylarge.tiny.devices import load_device

    sleep_w = load_device(config.device).sleep_power_w
    links = [load_link(n) for n in config.links]
    reference = load_link("5g-nr")  # sweep the rate with 5G NR's round trip and radio power
    choices = choose(cuts, links, sleep_w, config.objective)
    sweep = {str(obj): rate_sweep(cuts, reference, sleep_w, obj) for obj in Objective}
    summary = {
        "objective": str(config.objective),
        "best_cut_by_link": {c.link: c.best_cut for c in choices},
        "optimiser_matches_brute_force": all(c.best_cut == c.brute_force_cut for c in choices),
    }
    return SplitResult(
        config=config, n_blocks=n_blocks, cuts=cuts, choices=choices, sweep=sweep, summary=summary
    )


def _act_shape(net: nn.Module, k: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(net.forward_until(torch.zeros(1, *input_shape), k).shape[1:])


def run_split(config: SplitConfig, **io: Unpack[pattern.PatternIO]) -> SplitResult:
    """Profile every cut of ``config.model``, then choose per link and sweep the rate.

    Each cut's ``.tflite`` (and C with ``emit_c``) goes to ``out_dir`` (default: a temporary
    folder removed after the run, so ``tflite_path`` then points nowhere); ``cache`` is unused.
    """
    net, ds = pattern.checkpoint_io(config.model, config, io)
    with pattern.workdir(io.get("out_dir")) as work:
        cuts = profile_cuts(net, ds, config, work)
    return split_result(cuts, len(net.blocks), config)
