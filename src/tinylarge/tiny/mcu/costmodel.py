"""Latency from measured instructions: one cycles-per-instruction factor per core, calibrated on
published results of a stack running the same kernels, with its leave-one-out error.

``latency_s = instructions x cpi(core) / clock_hz`` and ``energy_j = latency_s x active_power_w``.
Instructions are what TFLM + CMSIS-NN executes on the emulated core (``tinylarge.tiny.mcu.tflm``);
the factor carries what instructions do not (multi-cycle loads and MACs, flash wait states,
caches, dual issue), so it belongs to a core on a board, not to a model.

Calibration uses only MLPerf Tiny v1.1 closed-division results of Krai's microTVM + CMSIS-NN
submissions (:data:`KRAI_CMSIS_NN`): two models on two boards, four points. The free parameters
are one factor per core (two for four points), fitted as the geometric mean of
``published_latency x clock / instructions`` over the core's points (least squares in log
latency). A split by op class would take two more parameters per core, which these four points
cannot pin (it would interpolate them exactly and predict nothing), so there is none. Cores with
no published point (Cortex-M7, Cortex-M0+) take the factor pooled over all four points, labelled
so. ST's X-CUBE-AI results (:data:`VENDOR_REFERENCE`) run other kernels: shown beside ours as
what a vendor stack reaches, never fitted.

A model that has not been run in QEMU gets its instructions from a per-core instruction model
(per op: ``per_unit[op class] x work + per_op``, non-negative least squares over the measured ops
of the benchmark set; ``calibration.yaml``), labelled modelled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tinylarge.errors import TinylargeError
from tinylarge.tiny.graph import Graph, Op, op_macs

CALIBRATION_FILE = Path(__file__).parent / "calibration.yaml"

# Op classes and their unit of work (MACs from tinylarge.tiny.graph.op_macs; elements otherwise).
OP_CLASSES = ("conv", "depthwise", "fully_connected", "pooling", "elementwise", "other")
_CLASS_OF = {
    "CONV_2D": "conv",
    "CONV_3D": "conv",
    "TRANSPOSE_CONV": "conv",
    "DEPTHWISE_CONV_2D": "depthwise",
    "FULLY_CONNECTED": "fully_connected",
    "BATCH_MATMUL": "fully_connected",
    **dict.fromkeys(
        ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"),
        "pooling",
    ),
    **dict.fromkeys(
        (
            "SOFTMAX",
            "LOG_SOFTMAX",
            "LOGISTIC",
            "TANH",
            "EXP",
            "QUANTIZE",
            "DEQUANTIZE",
            "HARD_SWISH",
        ),
        "other",
    ),
}
FREE_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})  # TFLM runs these in place


def op_work(graph: Graph, op: Op) -> tuple[str, int]:
    """``(op class, work)``: MACs for conv/depthwise/FC, window or input elements for pooling,
    output elements for elementwise and "other" ops, 0 for in-place reshapes."""
    if op.opcode in FREE_OPS:
        return "elementwise", 0
    cls = _CLASS_OF.get(op.opcode, "elementwise")
    if cls in ("conv", "depthwise", "fully_connected", "pooling"):
        return cls, op_macs(graph, op)
    out = graph.tensors[op.outputs[0]].n_elements if op.outputs else 0
    return cls, out


@dataclass(frozen=True)
class PublishedPoint:
    """One published median latency of a model on a board."""

    model: str  # file stem of the model (tests/tiny/fixtures, shared/models)
    device: str  # catalog name
    board: str
    core: str  # QEMU target that runs the same instruction set
    latency_s: float
    stack: str
    source: str


_MLPERF = "MLPerf Tiny v1.1 inference results, closed division (mlcommons.org), median latency"
KWS, AD = "mlperf_kws_dscnn_int8", "mlperf_ad_autoencoder_int8"
_KRAI = "Krai microTVM + CMSIS-NN"
_L4R5, _NRF = ("stm32l4r5", "NUCLEO-L4R5ZI", "cortex-m4"), ("nrf5340", "nRF5340-DK", "cortex-m33")
KRAI_CMSIS_NN: tuple[PublishedPoint, ...] = (
    PublishedPoint(KWS, *_L4R5, 99.81e-3, _KRAI, _MLPERF),
    PublishedPoint(AD, *_L4R5, 8.60e-3, _KRAI, _MLPERF),
    PublishedPoint(KWS, *_NRF, 76.49e-3, _KRAI, _MLPERF),
    PublishedPoint(AD, *_NRF, 6.29e-3, _KRAI, _MLPERF),
)
VENDOR_REFERENCE: tuple[PublishedPoint, ...] = (
    PublishedPoint(KWS, *_L4R5, 62.87e-3, "ST X-CUBE-AI", _MLPERF),
)


@dataclass(frozen=True)
class CoreFactor:
    """Cycles per instruction of one core, and where it came from."""

    core: str
    cpi: float
    n_points: int
    basis: str  # "fitted on this core" | "pooled (no published point on this core)"


def point_cpi(point: PublishedPoint, instructions: int, clock_hz: float) -> float:
    """The factor one published point implies: cycles it took / instructions it executed."""
    return point.latency_s * clock_hz / instructions


def fit_factors(
    points: Sequence[PublishedPoint],
    instructions: Mapping[tuple[str, str], int],
    clocks_hz: Mapping[str, float],
    cores: Sequence[str] = (),
) -> dict[str, CoreFactor]:
    """One factor per core with points (geometric mean); ``cores`` without points get the pooled
    factor over all points. ``instructions`` maps ``(model, core)``; ``clocks_hz`` maps device."""
    if not points:
        raise TinylargeError("no calibration point to fit a cycles-per-instruction factor")
    implied = {
        p: point_cpi(p, instructions[(p.model, p.core)], clocks_hz[p.device]) for p in points
    }
    pooled = _geomean(list(implied.values()))
    out = {}
    for core in dict.fromkeys([*(p.core for p in points), *cores]):
        mine = [v for p, v in implied.items() if p.core == core]
        if mine:
            out[core] = CoreFactor(core, _geomean(mine), len(mine), "fitted on this core")
        else:
            out[core] = CoreFactor(
                core, pooled, len(points), "pooled (no published point on this core)"
            )
    return out


def leave_one_out(
    points: Sequence[PublishedPoint],
    instructions: Mapping[tuple[str, str], int],
    clocks_hz: Mapping[str, float],
) -> list[dict[str, Any]]:
    """Each point predicted by the factors fitted on the others (its core's, else pooled)."""
    rows = []
    for held in points:
        rest = [p for p in points if p is not held]
        factor = fit_factors(rest, instructions, clocks_hz, [held.core])[held.core]
        pooled = fit_factors(rest, instructions, clocks_hz, ["__none__"])["__none__"]
        n = instructions[(held.model, held.core)]
        clock = clocks_hz[held.device]
        pred = n * factor.cpi / clock
        pred_pooled = n * pooled.cpi / clock
        rows.append(
            {
                "model": held.model,
                "device": held.device,
                "core": held.core,
                "published_latency_s": held.latency_s,
                "instructions": n,
                "predicted_latency_s": pred,
                "error": pred / held.latency_s - 1,
                "factor_basis": factor.basis,
                "predicted_pooled_latency_s": pred_pooled,
                "error_pooled": pred_pooled / held.latency_s - 1,
            }
        )
    return rows


def _geomean(values: Sequence[float]) -> float:
    return float(math.exp(np.mean(np.log(values))))


# --- the instruction model (for models not run in QEMU) --------------------------------------


@dataclass(frozen=True)
class InstructionModel:
    """Per op: ``per_unit[class] x work + per_op`` instructions (:func:`fit_instruction_model`)."""

    core: str
    per_op: float
    per_unit: dict[str, float]

    def op_instructions(self, graph: Graph, op: Op) -> float:
        cls, work = op_work(graph, op)
        return self.per_unit.get(cls, 0.0) * work + self.per_op

    def instructions(self, graph: Graph) -> float:
        return sum(self.op_instructions(graph, op) for op in graph.ops)


def fit_instruction_model(core: str, samples: Sequence[tuple[str, int, int]]) -> InstructionModel:
    """Non-negative least squares over measured ops ``(class, work, instructions)``, in relative
    terms (each row divided by its measured count), so a 200-instruction RESHAPE weighs as much
    as a million-instruction convolution and the per-op overhead is set by the small ops.

    One coefficient per class seen, and one shared per-op overhead; a class with no sample is
    left out (the model then has nothing to say about it).
    """
    from scipy.optimize import nnls

    classes = [c for c in OP_CLASSES if any(s[0] == c for s in samples)]
    a = np.zeros((len(samples), len(classes) + 1))
    b = np.zeros(len(samples))
    for i, (cls, work, instr) in enumerate(samples):
        if cls in classes:
            a[i, classes.index(cls)] = work
        a[i, -1] = 1.0
        b[i] = instr
    weight = 1.0 / np.maximum(b, 1.0)
    a, b = a * weight[:, None], b * weight
    # scale columns so the solver sees numbers of one magnitude
    scale = np.maximum(np.abs(a).max(axis=0), 1.0)
    coef, _ = nnls(a / scale, b)
    coef = coef / scale
    return InstructionModel(
        core, float(coef[-1]), {c: float(coef[i]) for i, c in enumerate(classes)}
    )


# --- the stored calibration -------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """``calibration.yaml``: measured instructions of the calibration models, instruction models."""

    instructions: dict[tuple[str, str], int]  # (model, core) -> TFLM + CMSIS-NN per inference
    instruction_models: dict[str, InstructionModel]
    meta: dict[str, Any]


@cache
def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    raw = yaml.safe_load(path.read_text())
    instructions = {
        (model, core): int(n)
        for core, per_model in raw["instructions"].items()
        for model, n in per_model.items()
    }
    models = {
        core: InstructionModel(
            core, float(m["per_op"]), {k: float(v) for k, v in m["per_unit"].items()}
        )
        for core, m in raw.get("instruction_models", {}).items()
    }
    meta = {k: v for k, v in raw.items() if k not in ("instructions", "instruction_models")}
    return Calibration(instructions, models, meta)


def dump_calibration(
    instructions: Mapping[tuple[str, str], int],
    models: Mapping[str, InstructionModel],
    meta: Mapping[str, Any],
    path: Path = CALIBRATION_FILE,
) -> None:
    """Write ``calibration.yaml`` (the benchmark does, from its measurements)."""
    per_core: dict[str, dict[str, int]] = {}
    for (model, core), n in sorted(instructions.items()):
        per_core.setdefault(core, {})[model] = int(n)
    body = {
        **meta,
        "instructions": per_core,
        "instruction_models": {
            core: {
                "per_op": round(m.per_op, 3),
                "per_unit": {k: round(v, 5) for k, v in m.per_unit.items()},
            }
            for core, m in sorted(models.items())
        },
    }
    header = (
        "# Written by benchmarks/bench_mcu.py from TFLM + CMSIS-NN runs under QEMU -icount (see\n"
        "# tinylarge/tiny/mcu/costmodel.py); tests/tiny/mcu re-measures the calibration models.\n"
    )
    path.write_text(header + yaml.safe_dump(body, sort_keys=False))
    load_calibration.cache_clear()
