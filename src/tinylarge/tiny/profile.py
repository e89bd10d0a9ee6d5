"""Profile an int8 ``.tflite`` on catalog devices: flash, RAM, MACs, latency, energy, fits.

Memory (what a TFLM deployment needs):

- ``ram_bytes = tflm_arena_bytes + TFLM_RUNTIME_RAM_BYTES``. The arena is *measured*: the smallest
  with which the real TFLM interpreter allocates and invokes the model (:class:`TflmRuntime`). TFLM
  plans the input and output tensors inside the arena, so no separate I/O buffers are added. It is
  measured on x86-64, whose persistent structs (pointers, node data) are larger than on a 32-bit
  MCU, so it is an upper bound there. ``TFLM_RUNTIME_RAM_BYTES`` is an *estimate* of the
  interpreter object, op resolver and allocator bookkeeping outside the arena.
- ``flash_bytes = model_size_bytes + runtime_code_bytes``: the whole ``.tflite`` (weights and
  flatbuffer metadata, kept in flash as a C array) plus an *estimate* of TFLM's code,
  ``TFLM_CORE_CODE_BYTES + TFLM_KERNEL_CODE_BYTES x distinct op types`` (TFLM's interpreter
  compiles to roughly 20-50 KiB of flash depending on the registered kernels; David et al.,
  "TensorFlow Lite Micro", MLSys 2021).

Time and energy (an op-level cost model per core, ``tiny/devices/cores.yaml``):
``latency_s = sum over ops (work x cycles_per_unit + op_overhead_cycles) / clock_hz`` and
``energy_j = latency_s x active_power_w``. MACs come from :func:`tinylarge.tiny.graph.op_macs`.
The cost model is checked against MLPerf Tiny v1.1 (:data:`MLPERF_TINY_V1_1`,
:func:`calibration_table`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinylarge.errors import TinylargeError
from tinylarge.tiny.devices import CostModel, DeviceProfile, load_device, load_devices
from tinylarge.tiny.graph import Graph, Op, load_graph, op_macs
from tinylarge.tiny.int8check import int8_violations
from tinylarge.tiny.runtime import ModelSource, TflmRuntime, UnsupportedModelError, read_model

TFLM_CORE_CODE_BYTES = 20 * 1024  # interpreter, allocator, flatbuffer access (estimate)
TFLM_KERNEL_CODE_BYTES = 4 * 1024  # one optimized int8 kernel, e.g. CMSIS-NN conv (estimate)
TFLM_RUNTIME_RAM_BYTES = 2 * 1024  # interpreter + resolver + allocator state (estimate)

# Op type -> cost-model field. Work is MACs for the first three, window/input elements for the
# pooling family (op_macs), output elements otherwise. Listed ops cost only their overhead.
_MAC_OPS = {
    "CONV_2D": "conv_cycles_per_mac",
    "CONV_3D": "conv_cycles_per_mac",
    "TRANSPOSE_CONV": "conv_cycles_per_mac",
    "DEPTHWISE_CONV_2D": "depthwise_cycles_per_mac",
    "FULLY_CONNECTED": "fully_connected_cycles_per_mac",
    "BATCH_MATMUL": "fully_connected_cycles_per_mac",
}
_POOL_OPS = frozenset(
    {"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"}
)
_OTHER_OPS = frozenset(
    {"SOFTMAX", "LOG_SOFTMAX", "LOGISTIC", "TANH", "EXP", "QUANTIZE", "DEQUANTIZE", "HARD_SWISH"}
)
_FREE_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})  # TFLM runs these in place


@dataclass(frozen=True)
class LayerCost:
    """One op on one device: its MACs, its work in cost-model units, and its time."""

    index: int
    opcode: str
    macs: int
    work: int
    cost_field: str
    cycles: float
    latency_s: float


@dataclass(frozen=True)
class ModelFacts:
    """What profiling needs from a model, measured once and shared by every device."""

    graph: Graph
    model_size_bytes: int
    tflm_arena_bytes: int

    @property
    def runtime_code_bytes(self) -> int:
        return TFLM_CORE_CODE_BYTES + TFLM_KERNEL_CODE_BYTES * len(self.graph.opcodes)

    @property
    def flash_bytes(self) -> int:
        return self.model_size_bytes + self.runtime_code_bytes

    @property
    def ram_bytes(self) -> int:
        return self.tflm_arena_bytes + TFLM_RUNTIME_RAM_BYTES


@dataclass(frozen=True)
class ProfileResult:
    """A model on a device. ``reasons`` says why it does not fit (empty when ``fits``)."""

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
    layers: list[LayerCost] = field(default_factory=list)

    def to_dict(self, layers: bool = False) -> dict[str, Any]:
        """JSON-ready dict; per-layer rows only when ``layers``."""
        d = asdict(self)
        if not layers:
            d.pop("layers")
        return d


def analyze_model(model: ModelSource) -> ModelFacts:
    """Check ``model`` is full-integer int8 and runs in TFLM; measure its arena once.

    Raises :class:`UnsupportedModelError` for a float or partly-float model, for bytes that are not
    a ``.tflite``, and for a model TFLM cannot run (an op it lacks).
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
    return ModelFacts(graph=graph, model_size_bytes=len(model_bytes), tflm_arena_bytes=arena)


def op_cost(graph: Graph, op: Op, cost: CostModel) -> tuple[int, int, str, float]:
    """``(macs, work, cost_field, cycles)`` of one op under a core's cost model."""
    macs = op_macs(graph, op)
    out_elems = graph.tensors[op.outputs[0]].n_elements if op.outputs else 0
    if op.opcode in _MAC_OPS:
        work, cost_field = macs, _MAC_OPS[op.opcode]
    elif op.opcode in _POOL_OPS:
        work, cost_field = macs, "pooling_cycles_per_element"
    elif op.opcode in _OTHER_OPS:
        work, cost_field = out_elems, "other_cycles_per_element"
    elif op.opcode in _FREE_OPS:
        work, cost_field = 0, "op_overhead_cycles"
    else:  # elementwise arithmetic, activations and copies (PAD, CONCATENATION, ...)
        work, cost_field = out_elems, "elementwise_cycles_per_element"
    per_unit = getattr(cost, cost_field) if work else 0.0
    return macs, work, cost_field, work * per_unit + cost.op_overhead_cycles


def profile_facts(facts: ModelFacts, device: DeviceProfile) -> ProfileResult:
    """Profile already-analysed model facts on one device (pure: no TFLM call)."""
    layers = []
    for op in facts.graph.ops:
        macs, work, cost_field, cycles = op_cost(facts.graph, op, device.cost_model)
        layers.append(
            LayerCost(op.index, op.opcode, macs, work, cost_field, cycles, cycles / device.clock_hz)
        )
    latency_s = sum(layer.latency_s for layer in layers)
    reasons = []
    if facts.ram_bytes > device.sram_bytes:
        reasons.append(
            f"RAM {facts.ram_bytes} B (TFLM arena {facts.tflm_arena_bytes} B + runtime) "
            f"> {device.sram_bytes} B SRAM"
        )
    if facts.flash_bytes > device.flash_bytes:
        reasons.append(
            f"flash {facts.flash_bytes} B (model {facts.model_size_bytes} B + TFLM code "
            f"{facts.runtime_code_bytes} B) > {device.flash_bytes} B flash"
        )
    return ProfileResult(
        device=device.name,
        fits=not reasons,
        reasons=reasons,
        flash_bytes=facts.flash_bytes,
        ram_bytes=facts.ram_bytes,
        tflm_arena_bytes=facts.tflm_arena_bytes,
        model_size_bytes=facts.model_size_bytes,
        runtime_code_bytes=facts.runtime_code_bytes,
        macs=sum(layer.macs for layer in layers),
        latency_s=latency_s,
        energy_j=latency_s * device.active_power_w,
        device_sram_bytes=device.sram_bytes,
        device_flash_bytes=device.flash_bytes,
        layers=layers,
    )


def profile(model: ModelSource | ModelFacts, device: str | DeviceProfile) -> ProfileResult:
    """Profile ``model`` (path, bytes, or :class:`ModelFacts`) on one device (name or profile)."""
    facts = model if isinstance(model, ModelFacts) else analyze_model(model)
    dev = load_device(device) if isinstance(device, str) else device
    return profile_facts(facts, dev)


def profile_many(model: ModelSource, devices: str | Iterable[str] = "all") -> list[ProfileResult]:
    """Profile on several devices (``"all"``, a comma list, or names), measuring TFLM once."""
    selected = load_devices(devices if isinstance(devices, str) else list(devices))
    facts = analyze_model(model)
    return [profile_facts(facts, dev) for dev in selected]


# Published MLPerf Tiny v1.1 closed-division results (mlcommons.org; /work/shared/models/README.md)
# for the two reference models, on the two reference boards, with the ST software stack.
MLPERF_TINY_V1_1: list[dict[str, Any]] = [
    {"model": "kws_dscnn", "device": "stm32l4r5", "latency_s": 63e-3, "energy_j": 2.83e-3},
    {"model": "kws_dscnn", "device": "stm32h7a3", "latency_s": 16.7e-3, "energy_j": None},
    {"model": "ad_autoencoder", "device": "stm32h7a3", "latency_s": 1.8e-3, "energy_j": 0.22e-3},
]


def calibration_table(model_paths: dict[str, str | Path]) -> list[dict[str, Any]]:
    """Estimated vs published latency/energy for each :data:`MLPERF_TINY_V1_1` row.

    ``model_paths`` maps the row's model key (``kws_dscnn``, ``ad_autoencoder``) to its file.
    Errors are relative: ``estimate / published - 1``.
    """
    facts = {key: analyze_model(path) for key, path in model_paths.items()}
    rows = []
    for ref in MLPERF_TINY_V1_1:
        est = profile_facts(facts[ref["model"]], load_device(ref["device"]))
        energy_err = est.energy_j / ref["energy_j"] - 1 if ref["energy_j"] else None
        rows.append(
            {
                **{f"published_{k}" if k.endswith(("_s", "_j")) else k: v for k, v in ref.items()},
                "estimated_latency_s": est.latency_s,
                "estimated_energy_j": est.energy_j,
                "latency_error": est.latency_s / ref["latency_s"] - 1,
                "energy_error": energy_err,
            }
        )
    return rows
