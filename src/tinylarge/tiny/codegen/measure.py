"""Measure generated C on an emulated Cortex-M: instructions per inference (and per op), flash,
RAM -- the numbers an embedded engineer compares.

Instructions: QEMU with ``-icount shift=0`` and the SysTick counter of ``tinylarge.tiny.toolchain``
around one ``<prefix>_invoke`` whose input already sits in the arena (``<prefix>_input()``), as a
TFLM user writes ``input(0)`` before ``Invoke()``. Per-op counts come from a second build whose
``<PREFIX>_OP_DONE`` hook reads the counter after each op (the hook's own cost, ~30 instructions,
is measured by an empty pair of reads and subtracted; counts are multiples of the tick).

Flash and RAM: the same harness linked with ``--gc-sections`` with the model and with a stub of
the three API functions; the difference in text+data (flash) and data+bss (RAM) is what the model
(weights, code, kernels, arena) costs -- the way the TFLM baseline counts "TFLM + model + harness
minus the empty harness".
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.tiny import toolchain
from tinylarge.tiny.codegen.emit import GeneratedCode

HARNESS = r"""
#include <stdio.h>
#include "tl_counter.h"
#include "{prefix}.h"
{inputs}
#ifdef TL_PER_OP
static uint64_t tl_marks[{n_marks}];
static int tl_nodes[{n_marks}];
static int tl_n;
void tl_op_done(int node);
void tl_op_done(int node) {{
  tl_marks[tl_n] = tl_counter_ticks();
  tl_nodes[tl_n++] = node;
}}
#endif
int main(void) {{
  uint64_t t0, t1, e0, e1;
  int i, s;
  tl_counter_start();
  for (s = 0; s < {n}; ++s) {{
    int8_t *in = {prefix}_input();
    for (i = 0; i < {P}_INPUT_SIZE; ++i) in[i] = tl_inputs[s][i];
    e0 = tl_counter_ticks();
    e1 = tl_counter_ticks();
#ifdef TL_PER_OP
    tl_n = 0;
#endif
    t0 = tl_counter_ticks();
    if ({prefix}_invoke({prefix}_input(), {prefix}_output()) != 0) return 3;
    t1 = tl_counter_ticks();
    printf("T %lu %lu\n", (unsigned long)(t1 - t0), (unsigned long)(e1 - e0));
#ifdef TL_PER_OP
    for (i = 0; i < tl_n; ++i) {{
      printf("N %d %lu\n", tl_nodes[i], (unsigned long)(tl_marks[i] - (i ? tl_marks[i - 1] : t0)));
    }}
#endif
    printf("O ");
    for (i = 0; i < {P}_OUTPUT_SIZE; ++i) printf("%02x", (unsigned)(uint8_t){prefix}_output()[i]);
    printf("\n");
  }}
  return 0;
}}
"""

STUB = r"""
#include "{prefix}.h"
int8_t *{prefix}_input(void) {{ return (int8_t *)0; }}
int8_t *{prefix}_output(void) {{ return (int8_t *)0; }}
int {prefix}_invoke(const int8_t *input, int8_t *output) {{
  (void)input;
  (void)output;
  return 0;
}}
"""


@dataclass
class QemuMeasurement:
    """One build of the generated C on one target, run on QEMU."""

    target: str
    opt: str
    instructions: int  # per inference (median over the inputs; they are all equal in practice)
    flash_bytes: int
    ram_bytes: int
    per_op: dict[int, int] = field(default_factory=dict)  # node -> instructions
    outputs: np.ndarray | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("outputs")
        return d


def _write(code: GeneratedCode, work: Path, with_model: bool) -> list[Path]:
    srcs = []
    for name, text in code.files.items():
        if not with_model and name != f"{code.prefix}.h":
            continue
        (work / name).write_text(text)
        if name.endswith(".c"):
            srcs.append(work / name)
    if not with_model:
        stub = work / "stub.c"
        stub.write_text(STUB.format(prefix=code.prefix, P=code.prefix.upper()))
        srcs.append(stub)
    return srcs


def _inputs_c(code: GeneratedCode, inputs: np.ndarray) -> str:
    flat = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
    rows = ",\n".join("  {" + ", ".join(str(int(v)) for v in row) + "}" for row in flat)
    return f"static const int8_t tl_inputs[{len(flat)}][{flat.shape[1]}] = {{\n{rows}\n}};"


def link_sizes(
    code: GeneratedCode, work: Path, tgt: toolchain.Target, opt: str = "-Os",
    extra_sources: tuple[Path, ...] = (), include: tuple[Path, ...] = (),
) -> tuple[int, int]:  # fmt: skip
    """(flash, RAM) bytes the model adds to a firmware: the harness linked with the model minus
    the harness linked with a stub (see the module doc)."""
    one = np.zeros((1, code.input_size), dtype=np.int8)
    (work / "model").mkdir(parents=True)
    (work / "stub").mkdir(parents=True)
    with_model = _link(code, work / "model", tgt, opt, one, True, extra_sources, include)
    stub = _link(code, work / "stub", tgt, opt, one, False)
    return with_model.flash_bytes - stub.flash_bytes, with_model.ram_bytes - stub.ram_bytes


def _link(
    code: GeneratedCode, work: Path, tgt: toolchain.Target, opt: str, inputs: np.ndarray,
    with_model: bool, extra_sources: tuple[Path, ...] = (), include: tuple[Path, ...] = (),
    per_op: bool = False,
) -> toolchain.SectionSizes:  # fmt: skip
    srcs = _write(code, work, with_model)
    main = work / "main.c"
    main.write_text(
        ("#define TL_PER_OP 1\n" if per_op else "")
        + HARNESS.format(
            prefix=code.prefix, P=code.prefix.upper(), inputs=_inputs_c(code, inputs),
            n=len(inputs), n_marks=max(len(code.nodes), 1),
        )
    )  # fmt: skip
    extra = list(extra_sources) if with_model else []
    elf = toolchain.compile_target(
        tgt, [*srcs, *extra, main], work / "app.elf", opt=opt, include=include
    )
    return toolchain.section_sizes(elf)


def _hooked(code: GeneratedCode) -> GeneratedCode:
    """The same code with ``<PREFIX>_OP_DONE`` reading the counter after every op."""
    import dataclasses

    name = f"{code.prefix}.c"
    hook = f"void tl_op_done(int node);\n#define {code.prefix.upper()}_OP_DONE(n) tl_op_done(n)\n"
    return dataclasses.replace(code, files={**code.files, name: hook + code.files[name]})


def measure_qemu(
    code: GeneratedCode,
    inputs: np.ndarray,
    target: str = "cortex-m4",
    opt: str = "-O2",
    per_op: bool = False,
    extra_sources: tuple[Path, ...] = (),
    include: tuple[Path, ...] = (),
) -> QemuMeasurement:
    """Instructions per inference, flash and RAM of ``code`` on ``target`` (see the module doc);
    ``inputs`` (n, ...) int8 are run in turn and their outputs returned for bit-exact checks.
    ``extra_sources``/``include``: a library the code calls (CMSIS-NN)."""
    tgt = toolchain.get_target(target)
    with tempfile.TemporaryDirectory(prefix="tl_measure_") as tmp:
        work = Path(tmp)
        flash, ram = link_sizes(code, work / "size", tgt, opt, extra_sources, include)
        (work / "run").mkdir()
        _link(code, work / "run", tgt, opt, inputs, True, extra_sources, include)
        rc, stdout = toolchain.run_qemu(tgt, work / "run" / "app.elf", icount=True)
        if rc != 0:
            raise TinylargeError(f"firmware on {target} exited with {rc}: {stdout[-300:]!r}")
        per_op_counts: dict[int, int] = {}
        if per_op:
            (work / "per_op").mkdir()
            hooked = _hooked(code)
            _link(hooked, work / "per_op", tgt, opt, inputs[:1], True, extra_sources, include,
                  per_op=True)  # fmt: skip
            rc, op_out = toolchain.run_qemu(tgt, work / "per_op" / "app.elf", icount=True)
            if rc != 0:
                raise TinylargeError(f"per-op firmware on {target} exited with {rc}")
            per_op_counts = _parse_per_op(op_out, tgt.instructions_per_tick)
    ticks, outs = [], []
    for line in stdout.splitlines():
        if line.startswith("T "):
            total, empty = (int(v) for v in line.split()[1:3])
            ticks.append(total - empty)
        elif line.startswith("O "):
            outs.append(np.frombuffer(bytes.fromhex(line[2:].strip()), dtype=np.int8))
    if len(outs) != len(inputs):
        raise TinylargeError(f"expected {len(inputs)} outputs from QEMU, got {len(outs)}")
    return QemuMeasurement(
        target=target,
        opt=opt,
        instructions=int(np.median(ticks)) * tgt.instructions_per_tick,
        flash_bytes=flash,
        ram_bytes=ram,
        per_op=per_op_counts,
        outputs=np.stack(outs),
    )


def _parse_per_op(stdout: str, per_tick: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for line in stdout.splitlines():
        if line.startswith("N "):
            node, ticks = (int(v) for v in line.split()[1:3])
            out[node] = out.get(node, 0) + ticks * per_tick
    return out


# Device-catalog cores QEMU can run (tinylarge.tiny.toolchain targets)
CORE_TARGETS = {
    "cortex-m4f": "cortex-m4",
    "cortex-m7": "cortex-m7",
    "cortex-m33": "cortex-m33",
    "cortex-m0plus": "cortex-m0plus",
}


def generated_c_on_devices(model: str | Path | bytes, devices: list) -> dict[str, dict]:
    """Measured figures of the generated C (tinylarge kernels, ``-O2``) for each catalog device
    whose core QEMU runs: instructions per inference, flash and RAM, and whether they fit the
    device. Devices of other cores get ``{"measured": False}``. One build per core."""
    from tinylarge.tiny.codegen.emit import generate
    from tinylarge.tiny.codegen.verify import random_inputs
    from tinylarge.tiny.graph import load_graph

    code = generate(load_graph(model))
    x = random_inputs(tuple(code.input.shape), 1, seed=0)
    by_target: dict[str, QemuMeasurement] = {}
    out: dict[str, dict] = {}
    for d in devices:
        target = CORE_TARGETS.get(d.core)
        if target is None:
            out[d.name] = {"measured": False, "note": f"no QEMU board for core {d.core}"}
            continue
        if target not in by_target:
            by_target[target] = measure_qemu(code, x, target, "-O2")
        m = by_target[target]
        out[d.name] = {
            "measured": True,
            "target": target,
            "instructions": m.instructions,
            "flash_bytes": m.flash_bytes,
            "ram_bytes": m.ram_bytes,
            "fits": m.flash_bytes <= d.flash_bytes and m.ram_bytes <= d.sram_bytes,
        }
    return out
