"""Per-runtime figures of a model on a device, each labelled measured or modelled.

The dataclasses the profiler shares (:class:`ModelFacts`, :class:`CoreRun`, :class:`LayerCost`,
:class:`RuntimeFigures`) and the three ways a TFLM figure is obtained -- measured instructions
(QEMU ran the core), the instruction model (a QEMU core, the model not run) and estimated cycles
per unit of work (no emulator for the core) -- plus the generated C's. See
:mod:`tinylarge.tiny.profile` for what each figure counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tinylarge.tiny.devices import CostModel, DeviceProfile, load_device, load_devices
from tinylarge.tiny.graph import Graph, Op, op_macs
from tinylarge.tiny.mcu import costmodel

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


def qemu_cores(devices: Iterable[DeviceProfile] | None = None) -> list[str]:
    """QEMU targets of the devices' cores (default: the whole catalog), in first-seen order."""
    devs = load_devices("all") if devices is None else list(devices)
    targets = [d.cost_model.qemu_target for d in devs if d.cost_model.qemu_target]
    return list(dict.fromkeys(targets))


def tflm_figures(
    facts: ModelFacts, device: DeviceProfile
) -> tuple[RuntimeFigures, list[LayerCost]]:
    """TFLM + CMSIS-NN on ``device``: measured run, instruction model, or cycle estimates."""
    target = device.cost_model.qemu_target
    run = facts.runs.get(target) if target else None
    if run is not None:
        return _tflm_measured(facts, device, run)
    if target:
        return _tflm_instruction_model(facts, device)
    return _tflm_cycle_model(facts, device)


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


def generated_figures(
    facts: ModelFacts, device: DeviceProfile, tflm: RuntimeFigures
) -> RuntimeFigures:
    """The generated C on ``device``: measured run, M4-ratio estimate (no emulator), or none."""
    target = device.cost_model.qemu_target
    run = facts.runs.get(target) if target else None
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
