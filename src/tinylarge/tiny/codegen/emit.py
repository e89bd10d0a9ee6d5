"""Assemble the generated C: ``<prefix>.h`` (the API), ``<prefix>.c`` (data + ``<prefix>_invoke``)
and the kernel library ``tl_kernels.h/.c``; write them atomically.

The API is fixed by DESIGN.md::

    #define <P>_INPUT_SIZE, <P>_OUTPUT_SIZE, <P>_ARENA_BYTES
    int <p>_invoke(const int8_t *input, int8_t *output);   /* 0 on success */
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

import tinylarge
from tinylarge.errors import TinylargeError
from tinylarge.tiny.codegen.fuse import fuse_pads
from tinylarge.tiny.codegen.lower import Context, Lowered, UnsupportedOpError, lower_op
from tinylarge.tiny.codegen.planner import ARENA, INPUT, MemoryPlan, plan_memory
from tinylarge.tiny.graph import Graph, Op

KERNEL_FILES = ("tl_kernels.h", "tl_kernels.c")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class GeneratedCode:
    """The generated sources (file name -> text) and what a report needs about them."""

    prefix: str
    files: dict[str, str]
    plan: MemoryPlan
    ops: list[str]
    kernels: list[str]
    input_index: int
    output_index: int
    input_size: int
    output_size: int
    skipped_ops: list[int] = field(default_factory=list)  # edge QUANTIZE/DEQUANTIZE + fused
    fused_ops: list[int] = field(default_factory=list)  # PAD nodes folded into a convolution

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes


def kernel_sources() -> dict[str, str]:
    """The hand-written kernel library shipped inside the package."""
    pkg = resources.files("tinylarge.tiny.codegen") / "kernels"
    return {name: (pkg / name).read_text() for name in KERNEL_FILES}


def _edges(graph: Graph) -> tuple[int, int, list[int]]:
    """The int8 tensors the C API exchanges, skipping a float QUANTIZE in / DEQUANTIZE out."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise TinylargeError(
            f"code generation needs one input and one output; the model has "
            f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs"
        )
    c_in, c_out, skipped = graph.inputs[0], graph.outputs[0], []
    tin = graph.tensors[c_in]
    if tin.dtype != np.int8:
        users = graph.consumers(c_in)
        if len(users) == 1 and users[0].opcode == "QUANTIZE":
            c_in = users[0].outputs[0]
            skipped.append(users[0].index)
    tout = graph.tensors[c_out]
    if tout.dtype != np.int8:
        prod = graph.producer(c_out)
        if prod is not None and prod.opcode == "DEQUANTIZE":
            c_out = prod.inputs[0]
            skipped.append(prod.index)
    for idx, role in ((c_in, "input"), (c_out, "output")):
        t = graph.tensors[idx]
        if t.dtype != np.int8:
            raise TinylargeError(f"model {role} tensor {idx} {t.name!r} is {t.dtype}, need int8")
    if c_in == c_out:
        raise TinylargeError("the model's input is its output; nothing to generate")
    return c_in, c_out, skipped


def plan_graph(
    graph: Graph, in_place: bool = True, fuse: bool = True
) -> tuple[MemoryPlan, list[Op], int, int]:
    """Memory plan for the ops code generation will emit (edge QUANTIZE/DEQUANTIZE skipped)."""
    c_in, c_out, skipped = _edges(graph)
    ops = [op for op in graph.ops if op.index not in skipped]
    if fuse:
        ops, _ = fuse_pads(graph, ops, keep={c_in, c_out})
    acts: dict[int, int] = {}
    op_in, op_out = [], []
    for op in ops:
        ins = [i for i in op.inputs if i >= 0 and not graph.tensors[i].is_constant]
        outs = [i for i in op.outputs if i >= 0]
        for i in ins + outs:
            acts[i] = graph.tensors[i].size_bytes
        op_in.append(ins)
        op_out.append(outs)
    plan = plan_memory(
        len(ops), op_in, op_out, [op.opcode for op in ops], acts, [c_in], [c_out],
        in_place=in_place,
    )  # fmt: skip
    return plan, ops, c_in, c_out


def generate(
    graph: Graph, prefix: str = "tl_model", in_place: bool = True, fuse: bool = True
) -> GeneratedCode:
    """Lower ``graph`` to C sources held in memory (nothing is written).

    ``in_place`` lets views and elementwise ops share buffers; ``fuse`` folds zero-point PADs
    into the convolutions that read them. Both only change memory, never the output bytes.
    """
    if not _IDENT.match(prefix):
        raise TinylargeError(f"prefix {prefix!r} is not a C identifier")
    plan, ops, c_in, c_out = plan_graph(graph, in_place, fuse)
    arena = f"{prefix}_arena"

    def ptr(index: int) -> str:
        place, offset = plan.location[index]
        if place == INPUT:
            return "input"
        if place == ARENA:
            return f"({arena} + {offset})"
        return "output"

    ctx = Context(graph=graph, ptr=ptr)
    lowered: list[tuple[Op, Lowered]] = []
    for op in ops:
        low = lower_op(op, ctx)
        lowered.append((op, low))
        for t in op.outputs:
            if plan.location.get(t, ("", 0))[0] == INPUT and low.kernel != "(view)":
                raise UnsupportedOpError(op, "would write into the caller's read-only input")
    in_size = graph.tensors[c_in].size_bytes
    out_size = graph.tensors[c_out].size_bytes
    header = _header(graph, prefix, in_size, out_size, plan.arena_bytes)
    source = _source(graph, prefix, plan, lowered)
    files = {f"{prefix}.h": header, f"{prefix}.c": source, **kernel_sources()}
    return GeneratedCode(
        prefix=prefix,
        files=files,
        plan=plan,
        ops=[op.opcode for op in ops],
        fused_ops=[op.options["fused_pad_node"] for op in ops if "fused_pad_node" in op.options],
        kernels=sorted({low.kernel for _, low in lowered if low.kernel.startswith("tl_")}),
        input_index=c_in,
        output_index=c_out,
        input_size=in_size,
        output_size=out_size,
        skipped_ops=[op.index for op in graph.ops if op.index not in {o.index for o in ops}],
    )


def _banner(graph: Graph, what: str) -> str:
    return (
        f"/* {what}\n"
        f" * Generated by tinylarge {tinylarge.__version__} (tinylarge codegen) -- "
        "generated - do not edit.\n"
        f" * Model SHA-256: {graph.sha256}\n"
        " * Arithmetic: TFLite int8 spec, bit-exact with the TFLM reference kernels.\n"
        " */\n"
    )


def _header(graph: Graph, prefix: str, in_size: int, out_size: int, arena_bytes: int) -> str:
    up = prefix.upper()
    return (
        _banner(graph, f"{prefix}.h - int8 model API")
        + f"#ifndef {up}_H_\n#define {up}_H_\n\n#include <stdint.h>\n\n"
        + '#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
        + f"#define {up}_INPUT_SIZE {in_size}\n"
        + f"#define {up}_OUTPUT_SIZE {out_size}\n"
        + f"#define {up}_ARENA_BYTES {arena_bytes}\n\n"
        + f"/* Runs the model on {up}_INPUT_SIZE int8 values (NHWC, quantized with the input\n"
        + f" * tensor's scale/zero point) and writes {up}_OUTPUT_SIZE int8 values. Returns 0. */\n"
        + f"int {prefix}_invoke(const int8_t *input, int8_t *output);\n\n"
        + "#ifdef __cplusplus\n}\n#endif\n\n"
        + f"#endif /* {up}_H_ */\n"
    )


def _source(graph: Graph, prefix: str, plan: MemoryPlan, lowered: list[tuple[Op, Lowered]]) -> str:
    up = prefix.upper()
    parts = [
        _banner(graph, f"{prefix}.c - weights, folded quantization parameters and invoke()"),
        f'#include "{prefix}.h"\n\n#include <stddef.h>\n\n#include "tl_kernels.h"\n',
        "/* One static arena holds every intermediate tensor; offsets were planned ahead of time\n"
        f" * (order '{plan.order}'). Weights below are const and stay in flash. */\n"
        f"static int8_t {prefix}_arena[{up}_ARENA_BYTES > 0 ? {up}_ARENA_BYTES : 1];\n",
    ]
    for _, low in lowered:
        if low.decls:
            parts.append("\n".join(low.decls) + "\n")
    body = []
    for op, low in lowered:
        if not low.call.startswith("/*"):
            body.append(f"    /* node {op.index}: {op.opcode} */")
        body.append(f"    {low.call}")
    text = "\n".join(body)
    unused = "".join(
        f"    (void){name};\n"
        for name in ("input", "output")
        if not re.search(rf"\b{name}\b", text)
    )
    parts.append(
        f"int {prefix}_invoke(const int8_t *input, int8_t *output) {{\n"
        + unused
        + text
        + "\n    return 0;\n}\n"
    )
    return "\n".join(parts)


def write_atomically(files: dict[str, str], out_dir: str | Path) -> list[Path]:
    """Write ``files`` into ``out_dir`` via a temporary sibling directory and one rename, so a
    failure never leaves a partial directory. An existing ``out_dir`` is replaced only if it holds
    nothing but generated-looking files (.c, .h, Makefile)."""
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise TinylargeError(f"output path {str(out)!r} exists and is not a directory")
        foreign = [
            p.name for p in out.iterdir() if p.suffix not in (".c", ".h") and p.name != "Makefile"
        ]
        if foreign:
            raise TinylargeError(
                f"output directory {str(out)!r} holds other files ({', '.join(sorted(foreign))}); "
                "choose an empty or new directory"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / name for name in files]
