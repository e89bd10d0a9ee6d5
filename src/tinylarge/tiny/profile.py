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
from tinylarge.tiny.devices import CostModel, DeviceProfile, load_device, load_devices
from tinylarge.tiny.graph import Graph, Op, load_graph, op_macs
from tinylarge.tiny.int8check import int8_violations
from tinylarge.tiny.mcu import costmodel
from tinylarge.tiny.runtime import ModelSource, TflmRuntime, UnsupportedModelError, read_model

TFLM_CORE_CODE_BYTES = 20 * 1024  # interpreter, allocator, flatbuffer access (estimate)
TFLM_KERNEL_CODE_BYTES = 4 * 1024  # one optimized int8 kernel, e.g. CMSIS-NN conv (estimate)
TFLM_RUNTIME_RAM_BYTES = 2 * 1024  # interpreter + resolver + allocator state (estimate)

MEASURED, MODELLED = "measured", "modelled"
RUNTIMES = ("tflm_cmsis_nn", "generated_c")
PROXY_CORE = "cortex-m4"  # whose 32-bit measurements stand in for an MCU QEMU cannot run

_CYCLE_FIELD = {
    "conv": "conv_cycles_per_mac",
    "depthwise": "depthwise_cycles_per_mac",
    "fully_connected": "fully_connected_cycles_per_mac",
    "pooling": "pooling_cycles_per_element",
    "elementwise": "elementwise_cycles_per_element",
    "other": "other_cycles_per_element",
}


@dataclass(frozen=True)
class LayerCost:
    """One op on one device (TFLM runtime): its MACs, work, instructions and time."""

    index: int
    opcode: str
    macs: int
    work: int
    cost_field: str  # op class (tinylarge.tiny.mcu.costmodel.OP_CLASSES)
    cycles: float
    latency_s: float
    instructions: float | None = None
    basis: str = MODELLED


@dataclass(frozen=True)
class CoreRun:
    """A model run on one QEMU core: TFLM + CMSIS-NN, and the generated C when it translates."""

    tflm: Any  # tinylarge.tiny.mcu.tflm.TflmMeasurement
    generated: Any = None  # tinylarge.tiny.mcu.generated.GeneratedMeasurement
    generated_error: str | None = None


@dataclass(frozen=True)
class ModelFacts:
    """What profiling needs from a model, measured once and shared by every device."""

    graph: Graph
    model_size_bytes: int
    tflm_arena_bytes: int
    runs: dict[str, CoreRun] = field(default_factory=dict)  # QEMU target -> run

    @property
    def runtime_code_bytes(self) -> int:
        """Estimated TFLM code (the modelled path)."""
        return TFLM_CORE_CODE_BYTES + TFLM_KERNEL_CODE_BYTES * len(self.graph.opcodes)

    @property
    def flash_bytes(self) -> int:
        """Estimated flash (the modelled path): the model + :attr:`runtime_code_bytes`."""
        return self.model_size_bytes + self.runtime_code_bytes

    @property
    def ram_bytes(self) -> int:
        """Estimated RAM (the modelled path): x86-64 arena (an upper bound) + runtime state."""
        return self.tflm_arena_bytes + TFLM_RUNTIME_RAM_BYTES


@dataclass(frozen=True)
class RuntimeFigures:
    """One runtime on one device; ``basis`` labels every figure measured or modelled."""

    runtime: str
    available: bool
    latency_s: float | None = None
    energy_j: float | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    instructions: int | None = None
    latency_method: str = ""
    basis: dict[str, str] = field(default_factory=dict)
    note: str = ""


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


def qemu_cores(devices: Iterable[DeviceProfile] | None = None) -> list[str]:
    """QEMU targets of the devices' cores (default: the whole catalog), in first-seen order."""
    devs = load_devices("all") if devices is None else list(devices)
    targets = [d.cost_model.qemu_target for d in devs if d.cost_model.qemu_target]
    return list(dict.fromkeys(targets))


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
    target = device.cost_model.qemu_target
    run = facts.runs.get(target) if target else None
    if run is not None:
        tflm, layers = _tflm_measured(facts, device, run)
    elif target:
        tflm, layers = _tflm_instruction_model(facts, device)
    else:
        tflm, layers = _tflm_cycle_model(facts, device)
    gen = _generated(facts, device, run, tflm)
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
        basis=tflm.basis,
        runtimes={"tflm_cmsis_nn": tflm, "generated_c": gen},
        layers=layers,
    )


def core_factor(target: str) -> costmodel.CoreFactor:
    """The calibrated cycles-per-instruction factor of a QEMU core (stored calibration)."""
    return _factors()[target]


def _factors() -> dict[str, costmodel.CoreFactor]:
    cal = costmodel.load_calibration()
    clocks = {p.device: load_device(p.device).clock_hz for p in costmodel.KRAI_CMSIS_NN}
    return costmodel.fit_factors(costmodel.KRAI_CMSIS_NN, cal.instructions, clocks, qemu_cores())


def _time(instructions: float, device: DeviceProfile) -> tuple[float, float, str]:
    factor = core_factor(device.cost_model.qemu_target)
    latency_s = instructions * factor.cpi / device.clock_hz
    return latency_s, latency_s * device.active_power_w, f"cpi {factor.cpi:.3f}, {factor.basis}"


def _tflm_measured(
    facts: ModelFacts, device: DeviceProfile, run: CoreRun
) -> tuple[RuntimeFigures, list[LayerCost]]:
    m = run.tflm
    latency_s, energy_j, factor = _time(m.instructions_median, device)
    per_op = {o.index: o.instructions for o in m.ops}
    layers = _layers(facts.graph, device, lambda op: per_op.get(op.index, 0), MEASURED)
    figures = RuntimeFigures(
        "tflm_cmsis_nn", True, latency_s, energy_j, m.flash_bytes, m.ram_bytes,
        m.instructions_median,
        f"measured instructions ({m.core}, QEMU) x {factor}",
        _basis(MEASURED, MEASURED),
        f"RAM = 32-bit arena_used {m.arena_used_bytes} B + static {m.static_ram_bytes} B; "
        f"stack {m.stack_bytes} B apart",
    )  # fmt: skip
    return figures, layers


def _tflm_instruction_model(
    facts: ModelFacts, device: DeviceProfile
) -> tuple[RuntimeFigures, list[LayerCost]]:
    model = costmodel.load_calibration().instruction_models[device.cost_model.qemu_target]
    layers = _layers(
        facts.graph, device, lambda op: model.op_instructions(facts.graph, op), MODELLED
    )
    n = sum(layer.instructions or 0 for layer in layers)
    latency_s, energy_j, factor = _time(n, device)
    figures = RuntimeFigures(
        "tflm_cmsis_nn", True, latency_s, energy_j, facts.flash_bytes, facts.ram_bytes, int(n),
        f"instruction model ({model.core}, fitted to measured ops) x {factor}",
        _basis(MODELLED, MODELLED),
        "not run in QEMU: flash and RAM are estimates (run `tinylarge profile` to measure)",
    )  # fmt: skip
    return figures, layers


def _tflm_cycle_model(
    facts: ModelFacts, device: DeviceProfile
) -> tuple[RuntimeFigures, list[LayerCost]]:
    cost = device.cost_model
    layers = []
    for op in facts.graph.ops:
        cycles = _op_cycles(facts.graph, op, cost)
        cls, work = costmodel.op_work(facts.graph, op)
        layers.append(
            LayerCost(op.index, op.opcode, op_macs(facts.graph, op), work, cls, cycles,
                      cycles / device.clock_hz)
        )  # fmt: skip
    latency_s = sum(layer.latency_s for layer in layers)
    flash, ram, note = facts.flash_bytes, facts.ram_bytes, "flash and RAM are estimates"
    proxy = facts.runs.get(PROXY_CORE)
    if device.is_mcu and proxy is not None:
        flash, ram = proxy.tflm.flash_bytes, proxy.tflm.ram_bytes
        note = f"flash and RAM as measured on the {PROXY_CORE} (32-bit; other kernels differ)"
    figures = RuntimeFigures(
        "tflm_cmsis_nn", True, latency_s, latency_s * device.active_power_w, flash, ram, None,
        f"estimated cycles per unit of work ({device.core}: no emulator for this core)",
        _basis(MODELLED, None), note,
    )  # fmt: skip
    return figures, layers


def _generated(
    facts: ModelFacts, device: DeviceProfile, run: CoreRun | None, tflm: RuntimeFigures
) -> RuntimeFigures:
    if not device.is_mcu:
        return RuntimeFigures("generated_c", False, note="generated C targets microcontrollers")
    if run is not None:
        if run.generated is None:
            return RuntimeFigures("generated_c", False, note=run.generated_error or "")
        g = run.generated
        latency_s, energy_j, factor = _time(g.instructions_median, device)
        return RuntimeFigures(
            "generated_c", True, latency_s, energy_j, g.flash_bytes, g.ram_bytes,
            g.instructions_median, f"measured instructions ({g.core}, QEMU) x {factor}",
            _basis(MEASURED, MEASURED),
            f"RAM = static arena {g.arena_bytes} B + I/O buffers; stack {g.stack_bytes} B apart",
        )  # fmt: skip
    proxy = facts.runs.get(PROXY_CORE)
    if device.cost_model.qemu_target is None and proxy is not None and proxy.generated is not None:
        ratio = proxy.generated.instructions_median / proxy.tflm.instructions_median
        return RuntimeFigures(
            "generated_c", True, tflm.latency_s * ratio, tflm.energy_j * ratio,
            proxy.generated.flash_bytes, proxy.generated.ram_bytes, None,
            f"TFLM estimate x (generated C / TFLM + CMSIS-NN) instructions on the {PROXY_CORE} "
            f"({ratio:.2f})",
            _basis(MODELLED, None),
            f"no emulator for {device.core}: flash and RAM as measured on the {PROXY_CORE}",
        )  # fmt: skip
    return RuntimeFigures(
        "generated_c", False, note="not run in QEMU (run `tinylarge profile` to measure)"
    )


def _basis(memory: str, instructions: str | None) -> dict[str, str]:
    """Labels of one runtime's figures; time and energy are always modelled (no board timed)."""
    out = {"flash_bytes": memory, "ram_bytes": memory, "latency_s": MODELLED, "energy_j": MODELLED}
    if instructions is not None:
        out["instructions"] = instructions
    return out


def _layers(graph: Graph, device: DeviceProfile, instructions_of, basis: str) -> list[LayerCost]:
    cpi = core_factor(device.cost_model.qemu_target).cpi
    out = []
    for op in graph.ops:
        n = float(instructions_of(op))
        cls, work = costmodel.op_work(graph, op)
        cycles = n * cpi
        out.append(
            LayerCost(op.index, op.opcode, op_macs(graph, op), work, cls, cycles,
                      cycles / device.clock_hz, n, basis)
        )  # fmt: skip
    return out


def _op_cycles(graph: Graph, op: Op, cost: CostModel) -> float:
    """Estimated cycles of one op on a core QEMU cannot run (cores.yaml constants)."""
    cls, work = costmodel.op_work(graph, op)
    per_unit = getattr(cost, _CYCLE_FIELD[cls]) if work else 0.0
    return work * per_unit + (cost.op_overhead_cycles or 0.0)


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
