"""Measure a ``.tflite`` in TFLM on an emulated Cortex-M: outputs, flash, RAM, instructions per op.

:func:`measure_tflm` builds (or takes from the cache) what the model needs of TFLM for one core
and kernel set, links the harness of :mod:`tinylarge.tiny.mcu.harness` three ways and runs two of
them in QEMU with ``-icount shift=0``. What it reports, and how each number is counted:

- ``outputs``: the output tensor's bytes for every input (to compare with the x86 TFLM oracle).
- ``instructions``: per input, ``tl_counter_ticks()`` around ``Invoke()`` x the board's
  instructions per tick (exact to one tick: 40 or 50 instructions).
- ``ops``: per op, instructions of the kernel's ``invoke`` (the ``ops`` build's trampolines);
  their sum is below the total by the interpreter's dispatch between kernels.
- ``flash_bytes``: ``(text + data)`` of the ``deploy`` ELF minus that of the ``empty`` ELF: TFLM's
  code and constants, the model blob, the resolver and interpreter set-up, C++ runtime support and
  any libc code TFLM pulls in. Startup, semihosting, printing and the inputs cancel out.
- ``ram_bytes = arena_used_bytes() + static_ram_bytes``: the arena TFLM planned on this 32-bit
  core (I/O tensors included) plus ``(data + bss)`` of ``deploy`` minus ``empty`` minus the
  static arena buffer (interpreter, resolver, allocator state, TFLM's globals). The stack is
  reported apart (``stack_bytes``: high-water mark of ``Invoke()``, painted and scanned from
  256 B below ``main``'s stack pointer, so it misses up to 256 B: a lower bound).

Results are cached as JSON by a hash of everything that determines them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.mcu import build, firmware, harness
from tinylarge.tiny.mcu.tree import (
    build_plan,
    default_cache_root,
    find_tree,
    tree_hash,
    writable_copy,
)
from tinylarge.tiny.runtime import ModelSource, read_model
from tinylarge.tiny.toolchain import STARTUP_C, get_target, run_qemu, section_sizes

RESULT_VERSION = "1"


@dataclass(frozen=True)
class OpCount:
    """Instructions of one op's kernel (``invoke``) on one input."""

    index: int
    opcode: str
    instructions: int


class RunOutputs:
    """What every on-device run has: hex outputs and instructions per input."""

    outputs: list[str]
    instructions: list[int]

    @property
    def instructions_median(self) -> int:
        return int(np.median(self.instructions))

    def output_array(self) -> np.ndarray:
        """Outputs as int8, shape ``(n_inputs, output_bytes)``."""
        return np.array([np.frombuffer(bytes.fromhex(h), dtype=np.int8) for h in self.outputs])


@dataclass(frozen=True)
class TflmMeasurement(RunOutputs):
    """A model in TFLM on one emulated core with one kernel set (see the module doc)."""

    core: str
    kernels: str
    model_sha256: str
    outputs: list[str]  # hex of the output bytes, one per input
    instructions: list[int]  # per input
    arena_used_bytes: int
    static_ram_bytes: int
    flash_bytes: int
    stack_bytes: int
    ops: list[OpCount]
    sizes: dict[str, dict[str, int]]
    build: dict[str, float] = field(default_factory=dict)

    @property
    def ram_bytes(self) -> int:
        return self.arena_used_bytes + self.static_ram_bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ram_bytes"] = self.ram_bytes
        d["instructions_median"] = self.instructions_median
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TflmMeasurement:
        d = {k: v for k, v in d.items() if k not in ("ram_bytes", "instructions_median")}
        d["ops"] = [OpCount(**o) for o in d["ops"]]
        return cls(**d)


def random_inputs(model: ModelSource, n: int, seed: int = 0) -> np.ndarray:
    """``n`` seeded uniform int8 inputs of the model's input shape (batch first)."""
    graph = load_graph(read_model(model))
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, *shape), dtype=np.int8)


def measure_tflm(
    model: ModelSource,
    inputs: np.ndarray,
    core: str = "cortex-m4",
    kernels: str = "cmsis_nn",
    cache_root: Path | None = None,
    jobs: int | None = None,
    per_op: bool = True,
) -> TflmMeasurement:
    """Run ``model`` on ``inputs`` (int8, batch first) in TFLM on ``core`` under QEMU.

    ``per_op=False`` skips the ``ops`` build (``ops`` then empty): one harness compile fewer
    for an op set not seen before, for callers that need outputs and totals only.
    """
    model_bytes = read_model(model)
    graph = load_graph(model_bytes)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise TinylargeError(
            f"the TFLM harness takes one input and one output tensor; this model has "
            f"{len(graph.inputs)} and {len(graph.outputs)}"
        )
    tin, tout = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    x = np.ascontiguousarray(inputs).reshape(len(inputs), -1)
    if x.dtype.itemsize * x.shape[1] != tin.size_bytes:
        raise TinylargeError(
            f"inputs have {x.dtype.itemsize * x.shape[1]} bytes per sample; the model's input "
            f"tensor has {tin.size_bytes}"
        )
    cache_root = cache_root or default_cache_root()
    tree = find_tree()
    target = get_target(core)
    key = _result_key(model_bytes, x.tobytes(), core, kernels, tree, per_op)
    cached = cache_root / "runs" / f"{key}.json"
    if cached.is_file():
        return TflmMeasurement.from_dict(json.loads(cached.read_text()))

    src = writable_copy(tree, cache_root)
    plan = build_plan(core, kernels, src)
    bindings = build.bindings_for(graph.opcodes, src)
    with tempfile.TemporaryDirectory(prefix="tl_tflm_") as tmp:
        work = Path(tmp)
        (work / "model.tflite").write_bytes(model_bytes)
        (work / "inputs.bin").write_bytes(x.tobytes())
        blob = harness.data_source(
            str(work / "model.tflite"), str(work / "inputs.bin"), len(x), tin.size_bytes,
            tout.size_bytes,
        )  # fmt: skip
        elfs, stats = _firmware(
            plan, target, bindings, blob, tree, src, cache_root, work, jobs, per_op
        )
        t_run = time.perf_counter()
        deploy_out = _run(target, elfs["deploy"])
        ops_out = _run(target, elfs["ops"]) if per_op else ""
        stats["run_s"] = time.perf_counter() - t_run
        sizes = {k: asdict(section_sizes(elfs[k])) for k in ("deploy", "empty")}
    result = _parse(deploy_out, ops_out, sizes, graph, bindings, core, kernels, target)
    result = TflmMeasurement(**{**asdict(result), "ops": result.ops, "build": stats})
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_json = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_json.write_text(json.dumps(result.to_dict()))
    os.replace(tmp_json, cached)
    return result


def _firmware(plan, target, bindings, blob, tree, src, cache_root, work, jobs, per_op):
    """Compile what is missing and link the ``deploy``, ``ops`` and ``empty`` ELFs."""
    data = firmware.assemble(plan, blob, work / "data.o")
    start = firmware.startup_object(plan, cache_root, work)
    source = harness.harness_source(bindings)
    variants = {  # the empty build's source names no op: one object per core
        "deploy": (source, ["-DTL_WITH_TFLM=1", "-DTL_TIME_OPS=0"]),
        "ops": (source, ["-DTL_WITH_TFLM=1", "-DTL_TIME_OPS=1"]),
        "empty": (harness.harness_source([]), ["-DTL_WITH_TFLM=0", "-DTL_TIME_OPS=0"]),
    }
    if not per_op:
        del variants["ops"]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=3) as pool:  # each compile is a subprocess
        futures = {
            name: pool.submit(
                firmware.harness_object, plan, text, defs, cache_root, src, work / name
            )
            for name, (text, defs) in variants.items()
        }
        objs = {name: f.result() for name, f in futures.items()}
    stats = {"harness_s": time.perf_counter() - t0, "compile_s": 0.0, "n_compiled": 0}
    cmds = build.select(plan, src, [b.register_fn for b in bindings])
    for level in range(3):  # the first guess, then wider sets if the link misses a symbol
        compiled = build.compile_objects(cmds, src, tree, cache_root, jobs)
        stats["compile_s"] += compiled.compile_s
        stats["n_compiled"] += compiled.n_compiled
        stats["n_objects"] = len(compiled.paths)
        lib = firmware.archive(compiled.paths, work / "libtflm.a")
        t0 = time.perf_counter()
        try:
            deploy = [objs["deploy"], start, data]
            elfs = {"deploy": firmware.link(plan, target, deploy, [lib], work / "d.elf")}
            break
        except firmware.UndefinedSymbolError:
            if level == 2:
                raise
            cmds = build.widen(plan, cmds, level + 1)
    if "ops" in objs:
        elfs["ops"] = firmware.link(plan, target, [objs["ops"], start, data], [lib], work / "o.elf")
    elfs["empty"] = firmware.link(plan, target, [objs["empty"], start, data], [], work / "e.elf")
    stats["link_s"] = time.perf_counter() - t0
    return elfs, stats


def _result_key(
    model: bytes, inputs: bytes, core: str, kernels: str, tree: Path, per_op: bool
) -> str:
    parts = [
        RESULT_VERSION, str(per_op), hashlib.sha256(model).hexdigest(),
        hashlib.sha256(inputs).hexdigest(), core, kernels, tree_hash(tree),
        build.compiler_version("arm-none-eabi-g++"),
        harness.HARNESS_CC, harness.COMMON_C, harness.DATA_S, STARTUP_C,
    ]  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# main()'s exit codes (harness.HARNESS_CC)
_EXIT = {
    3: "the op resolver refused one of the model's ops",
    4: f"AllocateTensors failed (the harness arena is {harness.ARENA_BYTES} B)",
    5: "the model's input/output sizes differ from the harness's",
    6: "Invoke failed",
}


def _run(target, elf: Path) -> str:
    rc, out = run_qemu(target, elf, timeout_s=600, icount=True)
    if rc != 0:
        why = _EXIT.get(rc, "crashed or timed out")
        raise TinylargeError(f"TFLM firmware on {target.name} exited with {rc} ({why})")
    return out


_RUN = re.compile(r"^run (\d+) (\d+) (\d+)$")


def _parse(deploy_out, ops_out, sizes, graph, bindings, core, kernels, target) -> TflmMeasurement:
    lines = [ln.strip() for ln in deploy_out.splitlines() if ln.strip()]
    arena = int(lines[0].split()[1])
    instructions, outputs, stacks = [], [], []
    for head, body in zip(lines[1::2], lines[2::2], strict=True):
        m = _RUN.match(head)
        if not m:
            raise TinylargeError(f"unexpected harness output line {head!r}")
        instructions.append(int(m.group(2)) * target.instructions_per_tick)
        stacks.append(int(m.group(3)))
        outputs.append(body)
    records = [ln.split() for ln in ops_out.splitlines() if ln.startswith("op ")]
    ops = _attribute(records, graph, bindings, target.instructions_per_tick) if ops_out else []
    dep, emp = sizes["deploy"], sizes["empty"]
    flash = (dep["text"] + dep["data"]) - (emp["text"] + emp["data"])
    static_ram = (dep["data"] + dep["bss"]) - (emp["data"] + emp["bss"]) - harness.ARENA_BYTES
    return TflmMeasurement(
        core=core,
        kernels=kernels,
        model_sha256=graph.sha256,
        outputs=outputs,
        instructions=instructions,
        arena_used_bytes=arena,
        static_ram_bytes=static_ram,
        flash_bytes=flash,
        stack_bytes=max(stacks),
        ops=ops,
        sizes=sizes,
    )


def _attribute(records, graph, bindings, per_tick: int) -> list[OpCount]:
    """Match the trampolines' (op type, ticks) records to the graph's ops, in invoke order."""
    kinds = {b.opcode: i for i, b in enumerate(bindings) if b.takes_registration}
    timed = [op for op in graph.ops if op.opcode in kinds]
    if not timed or len(records) % len(timed):
        raise TinylargeError(f"{len(records)} op timings for {len(timed)} timed ops")
    out = []  # the first input's invoke
    for op, (_, kind, ticks) in zip(timed, records[: len(timed)], strict=True):
        if int(kind) != kinds[op.opcode]:
            raise TinylargeError(f"op timing order does not match the graph at op {op.index}")
        out.append(OpCount(op.index, op.opcode, int(ticks) * per_tick))
    return out
