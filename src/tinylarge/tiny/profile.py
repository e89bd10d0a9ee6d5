"""Profile an int8 ``.tflite`` on catalog devices, for two runtimes, every figure labelled.

Runtimes: ``tflm_cmsis_nn`` (TFLM with CMSIS-NN kernels, the default: what deployments run) and
``generated_c`` (``tinylarge.tiny.codegen``). Each figure carries ``"measured"`` or
``"modelled"`` in ``basis``, and ``latency_method`` says how the time was obtained.

Where QEMU runs the device's core (Cortex-M4/M7/M33/M0+; ``cores.yaml``) and the model was run
there (``analyze_model(..., measure=True)``; ``tinylarge profile`` does), flash, RAM and
instructions are measured (:mod:`tinylarge.tiny.mcu.tflm`, :mod:`tinylarge.tiny.mcu.generated`
say exactly what each counts) and latency = instructions x the core's calibrated
cycles-per-instruction / clock (:mod:`tinylarge.tiny.mcu.costmodel`), energy = latency x the
board's run-mode power. Both are modelled: no board was timed here.

Without a run (the fast path the search and the scenario runner use), instructions come from the
per-core instruction model fitted to measured ops (modelled), flash from ``.tflite`` +
:data:`TFLM_CORE_CODE_BYTES` + :data:`TFLM_KERNEL_CODE_BYTES` per op type and RAM from the x86-64
TFLM arena + :data:`TFLM_RUNTIME_RAM_BYTES` (estimates, modelled). Cores QEMU cannot run
(Xtensa, Cortex-A, GPUs) use estimated cycles per unit of work; an MCU among them takes the
32-bit flash/RAM measured on the Cortex-M4 when there is one (modelled: other kernels differ).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tinylarge.errors import TinylargeError
from tinylarge.tiny.devices import DeviceProfile, load_device, load_devices
from tinylarge.tiny.figures import (  # re-exported: the profiler's public types live there
    MEASURED,
    MODELLED,
    PROXY_CORE,
    RUNTIMES,
    TFLM_CORE_CODE_BYTES,
    TFLM_KERNEL_CODE_BYTES,
    TFLM_RUNTIME_RAM_BYTES,
    CoreRun,
    LayerCost,
    ModelFacts,
    RuntimeFigures,
    core_factor,
    generated_figures,
    qemu_cores,
    tflm_figures,
)
from tinylarge.tiny.graph import load_graph, op_macs
from tinylarge.tiny.int8check import int8_violations
from tinylarge.tiny.mcu import costmodel
from tinylarge.tiny.runtime import ModelSource, TflmRuntime, UnsupportedModelError, read_model

__all__ = [
    "MEASURED", "MODELLED", "PROXY_CORE", "RUNTIMES", "TFLM_CORE_CODE_BYTES",
    "TFLM_KERNEL_CODE_BYTES", "TFLM_RUNTIME_RAM_BYTES", "CoreRun", "LayerCost", "ModelFacts",
    "ProfileResult", "RuntimeFigures", "analyze_model", "calibration_table", "core_factor",
    "measure_facts", "profile", "profile_facts", "profile_many", "qemu_cores",
]  # fmt: skip


@dataclass(frozen=True)
class ProfileResult:
    """A model on a device. Top-level figures are the default runtime's (TFLM + CMSIS-NN);
    ``runtimes`` holds both. ``reasons`` says why it does not fit (empty when ``fits``)."""

    device: str
    fits: bool
    reasons: list[str]
    flash_bytes: int
    ram_bytes: int
    tflm_arena_bytes: int
    model_size_bytes: int
    runtime_code_bytes: int
    macs: int
    latency_s: float
    energy_j: float
    device_sram_bytes: int
    device_flash_bytes: int
    instructions: int | None = None
    latency_method: str = ""
    basis: dict[str, str] = field(default_factory=dict)
    runtimes: dict[str, RuntimeFigures] = field(default_factory=dict)
    layers: list[LayerCost] = field(default_factory=list)

    def to_dict(self, layers: bool = False) -> dict[str, Any]:
        """JSON-ready dict; per-layer rows only when ``layers``."""
        d = asdict(self)
        if not layers:
            d.pop("layers")
        return d


def analyze_model(
    model: ModelSource,
    measure: bool | Iterable[str] = False,
    n_inputs: int = 1,
    seed: int = 0,
    cache_root: Path | None = None,
) -> ModelFacts:
    """Check ``model`` is full-integer int8 and runs in TFLM; measure its x86 arena once.

    ``measure``: ``True`` runs it on every QEMU core of the catalog (or the named QEMU targets)
    in TFLM + CMSIS-NN and as generated C, on ``n_inputs`` seeded random inputs (first time per
    core: builds what TFLM needs, minutes; then cached). Raises :class:`UnsupportedModelError`
    for a float or partly-float model, for bytes that are not a ``.tflite``, and for a model
    TFLM cannot run (an op it lacks).
    """
    model_bytes = read_model(model)
    try:
        graph = load_graph(model_bytes)
    except TinylargeError as exc:
        raise UnsupportedModelError(f"cannot profile: {exc}") from None
    problems = int8_violations(graph)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        raise UnsupportedModelError(
            f"not a full-integer int8 model ({shown}); quantize it with `tinylarge quantize`"
        )
    try:
        arena = TflmRuntime(model_bytes).arena_bytes
    except RuntimeError as exc:  # TFLM lacks a kernel, or the model is malformed for it
        raise UnsupportedModelError(f"TFLM cannot run this model: {exc}") from None
    facts = ModelFacts(graph=graph, model_size_bytes=len(model_bytes), tflm_arena_bytes=arena)
    if measure:
        cores = qemu_cores() if measure is True else list(measure)
        facts = measure_facts(facts, model_bytes, cores, n_inputs, seed, cache_root)
    return facts


def measure_facts(
    facts: ModelFacts,
    model_bytes: bytes,
    cores: Iterable[str],
    n_inputs: int = 1,
    seed: int = 0,
    cache_root: Path | None = None,
) -> ModelFacts:
    """``facts`` plus TFLM + CMSIS-NN and generated-C runs on each QEMU core in ``cores``."""
    from tinylarge.tiny.mcu.generated import measure_generated
    from tinylarge.tiny.mcu.tflm import measure_tflm, random_inputs

    x = random_inputs(model_bytes, n_inputs, seed)

    def run(core: str) -> CoreRun:
        tflm = measure_tflm(model_bytes, x, core, "cmsis_nn", cache_root=cache_root)
        try:
            gen, err = measure_generated(model_bytes, x, core, cache_root=cache_root), None
        except TinylargeError as exc:  # e.g. an op the code generator does not support
            gen, err = None, str(exc).splitlines()[0]
        return CoreRun(tflm, gen, err)

    cores = list(cores)
    # the work is compilers and QEMU in subprocesses: one thread per CPU keeps them all busy
    with ThreadPoolExecutor(max_workers=min(len(cores), os.cpu_count() or 1) or 1) as pool:
        done = dict(zip(cores, pool.map(run, cores), strict=True))
    return replace(facts, runs={**facts.runs, **done})


def profile_facts(facts: ModelFacts, device: DeviceProfile) -> ProfileResult:
    """Profile already-analysed model facts on one device (pure: no TFLM, no QEMU call)."""
    tflm, layers = tflm_figures(facts, device)
    gen = generated_figures(facts, device, tflm)
    reasons = []
    if tflm.ram_bytes > device.sram_bytes:
        reasons.append(
            f"RAM {tflm.ram_bytes} B ({tflm.basis['ram_bytes']}) > {device.sram_bytes} B SRAM"
        )
    if tflm.flash_bytes > device.flash_bytes:
        reasons.append(
            f"flash {tflm.flash_bytes} B (model {facts.model_size_bytes} B + TFLM code, "
            f"{tflm.basis['flash_bytes']}) > {device.flash_bytes} B flash"
        )
    return ProfileResult(
        device=device.name,
        fits=not reasons,
        reasons=reasons,
        flash_bytes=tflm.flash_bytes,
        ram_bytes=tflm.ram_bytes,
        tflm_arena_bytes=facts.tflm_arena_bytes,
        model_size_bytes=facts.model_size_bytes,
        runtime_code_bytes=tflm.flash_bytes - facts.model_size_bytes,
        macs=sum(op_macs(facts.graph, op) for op in facts.graph.ops),
        latency_s=tflm.latency_s,
        energy_j=tflm.energy_j,
        device_sram_bytes=device.sram_bytes,
        device_flash_bytes=device.flash_bytes,
        instructions=tflm.instructions,
        latency_method=tflm.latency_method,
        # the x86-64 arena is measured (tflite-micro wheel); code bytes follow the flash figure
        basis={
            **tflm.basis,
            "tflm_arena_bytes": MEASURED,
            "runtime_code_bytes": tflm.basis["flash_bytes"],
        },
        runtimes={"tflm_cmsis_nn": tflm, "generated_c": gen},
        layers=layers,
    )


def profile(model: ModelSource | ModelFacts, device: str | DeviceProfile) -> ProfileResult:
    """Profile ``model`` (path, bytes, or :class:`ModelFacts`) on one device (name or profile)."""
    facts = model if isinstance(model, ModelFacts) else analyze_model(model)
    dev = load_device(device) if isinstance(device, str) else device
    return profile_facts(facts, dev)


def profile_many(
    model: ModelSource,
    devices: str | Iterable[str] = "all",
    measure: bool = False,
    cache_root: Path | None = None,
) -> list[ProfileResult]:
    """Profile on several devices (``"all"``, a comma list, or names), analysing the model once;
    ``measure`` runs it in QEMU on the cores those devices need (see :func:`analyze_model`)."""
    selected = load_devices(devices if isinstance(devices, str) else list(devices))
    facts = analyze_model(model)
    if measure:
        cores = qemu_cores(selected)
        if any(not d.cost_model.qemu_target and d.is_mcu for d in selected):
            cores = list(dict.fromkeys([*cores, PROXY_CORE]))
        facts = measure_facts(facts, read_model(model), cores, cache_root=cache_root)
    return [profile_facts(facts, dev) for dev in selected]


def calibration_table() -> list[dict[str, Any]]:
    """Leave-one-out check of the cycles-per-instruction factors on the published points.

    One row per point of :data:`costmodel.KRAI_CMSIS_NN`: its latency predicted from the
    instructions stored in ``calibration.yaml`` and the factor fitted on the other points, and
    the relative error ``predicted / published - 1``; energy = prediction x run-mode power.
    """
    cal = costmodel.load_calibration()
    clocks = {p.device: load_device(p.device).clock_hz for p in costmodel.KRAI_CMSIS_NN}
    rows = costmodel.leave_one_out(costmodel.KRAI_CMSIS_NN, cal.instructions, clocks)
    for row in rows:
        row["predicted_energy_j"] = (
            row["predicted_latency_s"] * load_device(row["device"]).active_power_w
        )
    return rows
