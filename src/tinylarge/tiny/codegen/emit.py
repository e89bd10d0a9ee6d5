"""Assemble the generated C: ``<prefix>.h`` (the API), ``<prefix>.c`` (data + ``<prefix>_invoke``)
and the kernel library renamed to the prefix (``<prefix>_kernels.h``, ``<prefix>_conv.c`` ...);
write them atomically.

The API is fixed by DESIGN.md::

    #define <P>_INPUT_SIZE, <P>_OUTPUT_SIZE, <P>_ARENA_BYTES (+ shapes, scales, zero points)
    int <p>_invoke(const int8_t *input, int8_t *output);   /* 0 on success */
    int8_t *<p>_input(void); int8_t *<p>_output(void);      /* zero-copy I/O in the arena */

Every symbol the files define starts with the prefix (the kernel library's ``tl_`` is renamed) or
is static, so several models link into one firmware.
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
from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.tiny.codegen import luts
from tinylarge.tiny.codegen.fuse import fuse_pads
from tinylarge.tiny.codegen.lower import Context, Lowered, lower_op
from tinylarge.tiny.codegen.lower_common import REVERSE, SCRATCH, Overlap, c_float_array
from tinylarge.tiny.codegen.planner import MemoryPlan, OpMemory, plan_memory
from tinylarge.tiny.codegen.stream import stream_stages
from tinylarge.tiny.graph import Graph, Op, Tensor

KERNEL_HEADERS = ("tl_kernels.h", "tl_arith.h")
KERNEL_SOURCES = ("tl_conv.c", "tl_pool.c", "tl_elementwise.c", "tl_softmax.c", "tl_data.c")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"@T(\d+)@")


@dataclass
class Edge:
    """One side of the C API: the int8 tensor exchanged, and the float tensor it stands for when
    the model has float I/O (QUANTIZE in / DEQUANTIZE out at the edge)."""

    index: int
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    float_index: int | None = None


@dataclass
class GeneratedCode:
    """The generated sources (file name -> text) and what a report needs about them."""

    prefix: str
    files: dict[str, str]
    plan: MemoryPlan
    ops: list[str]
    nodes: list[int]  # graph node index of each emitted op, in execution order
    kernels: list[str]
    input: Edge
    output: Edge
    skipped_ops: list[int] = field(default_factory=list)  # edge QUANTIZE/DEQUANTIZE + fused
    fused_ops: list[int] = field(default_factory=list)  # PAD nodes folded into a convolution
    streamed_ops: list[int] = field(default_factory=list)  # producers run row by row (stream)
    cmsis_nn: Path | None = None  # the CMSIS-NN tree the code calls (kernels="cmsis-nn")

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input.shape, dtype=np.int64))

    @property
    def output_size(self) -> int:
        return int(np.prod(self.output.shape, dtype=np.int64))


def rename(text: str, prefix: str) -> str:
    """The kernel library's ``tl_`` / ``TL_`` names, file names included, under ``prefix``."""
    text = re.sub(r"\btl_", f"{prefix}_", text)
    return re.sub(r"\bTL_", f"{prefix.upper()}_", text)


def kernel_sources(prefix: str = "tl") -> dict[str, str]:
    """The hand-written kernel library shipped inside the package, renamed to ``prefix``."""
    pkg = resources.files("tinylarge.tiny.codegen") / "kernels"
    return {
        rename(name, prefix): rename((pkg / name).read_text(), prefix)
        for name in (*KERNEL_HEADERS, *KERNEL_SOURCES)
    }


def _edge(t: Tensor, float_index: int | None = None) -> Edge:
    zp = int(t.zero_point[0]) if t.zero_point.size else 0
    return Edge(t.index, tuple(t.shape), float(t.scale[0]), zp, float_index)


def _edges(graph: Graph) -> tuple[Edge, Edge, list[int]]:
    """The int8 tensors the C API exchanges, skipping a float QUANTIZE in / DEQUANTIZE out."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise TinylargeError(
            f"code generation needs one input and one output; the model has "
            f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs"
        )
    c_in, c_out, skipped = graph.inputs[0], graph.outputs[0], []
    f_in = f_out = None
    if graph.tensors[c_in].dtype == np.float32:
        users = graph.consumers(c_in)
        if len(users) == 1 and users[0].opcode == "QUANTIZE":
            f_in, c_in = c_in, users[0].outputs[0]
            skipped.append(users[0].index)
    if graph.tensors[c_out].dtype == np.float32:
        prod = graph.producer(c_out)
        if prod is not None and prod.opcode == "DEQUANTIZE":
            f_out, c_out = c_out, prod.inputs[0]
            skipped.append(prod.index)
    for idx, role in ((c_in, "input"), (c_out, "output")):
        t = graph.tensors[idx]
        if t.dtype != np.int8:
            raise TinylargeError(f"model {role} tensor {idx} {t.name!r} is {t.dtype}, need int8")
    if c_in == c_out:
        raise TinylargeError("the model's input is its output; nothing to generate")
    return _edge(graph.tensors[c_in], f_in), _edge(graph.tensors[c_out], f_out), skipped


def _activations(graph: Graph, op: Op) -> tuple[list[int], list[int]]:
    ins = [i for i in op.inputs if i >= 0 and not graph.tensors[i].is_constant]
    return list(dict.fromkeys(ins)), [i for i in op.outputs if i >= 0]


KERNEL_BACKENDS = ("tinylarge", "cmsis-nn")


def lower_graph(
    graph: Graph, fuse: bool = True, kernels: str = "tinylarge", cmsis_nn: str | Path | None = None
) -> tuple[Edge, Edge, list[Op], list[Lowered], list[int]]:
    """Edges, the ops to emit (edge QUANTIZE/DEQUANTIZE skipped, PADs folded) and their C."""
    if kernels not in KERNEL_BACKENDS:
        raise UnknownNameError("kernels", kernels, KERNEL_BACKENDS)
    c_in, c_out, skipped = _edges(graph)
    ops = [op for op in graph.ops if op.index not in skipped]
    if fuse:
        ops, _ = fuse_pads(graph, ops, keep={c_in.index, c_out.index})
    ctx = Context(graph=graph)
    if kernels == "cmsis-nn":
        from tinylarge.tiny.codegen import cmsis

        cmsis_nn = cmsis_nn if cmsis_nn is not None else cmsis.find_shared_tree()
        if cmsis_nn is None:
            raise TinylargeError(
                "--kernels cmsis-nn needs a CMSIS-NN tree (--cmsis-nn PATH); none found under "
                "../shared/third_party"
            )
        # every op is lowered by tinylarge first: its checks give the same clear errors
        for op in ops:
            lower_op(op, ctx)
        return c_in, c_out, ops, cmsis.lower_all(Path(cmsis_nn), ops, ctx, lower_op), skipped
    return c_in, c_out, ops, [lower_op(op, ctx) for op in ops], skipped


def plan_graph(
    graph: Graph, ops: list[Op], lowered: list[Lowered], c_in: Edge, c_out: Edge, overlap: bool
) -> MemoryPlan:
    """Plan ``ops`` (positions as emitted). A float-I/O model's float tensors are planned too, as
    TFLM plans them: the edge QUANTIZE runs first (its float input dies there; the int8 output may
    start at or before it, written first to last) and the edge DEQUANTIZE last (its float output
    lives to the end and may start at or after its int8 input, written last to first)."""
    sizes: dict[int, int] = {}
    mem = []
    if c_in.float_index is not None:
        f = c_in.float_index
        mem.append(OpMemory([f], [c_in.index], overlaps=(Overlap(f, c_in.index, 0, None),)))
    for op, low in zip(ops, lowered, strict=True):
        ins, outs = _activations(graph, op)
        mem.append(OpMemory(ins, outs, low.view, low.scratch_bytes, low.overlaps))
    if c_out.float_index is not None:
        f = c_out.float_index
        mem.append(OpMemory([c_out.index], [f], overlaps=(Overlap(c_out.index, f, None, 0),)))
    for m in mem:
        for i in [*m.inputs, *m.outputs]:
            sizes[i] = graph.tensors[i].size_bytes
    model_in = c_in.index if c_in.float_index is None else c_in.float_index
    model_out = c_out.index if c_out.float_index is None else c_out.float_index
    plan = plan_memory(mem, sizes, [model_in], [model_out], overlap=overlap)
    if c_in.float_index is not None:  # back to the emitted ops' positions
        plan.scratch = {k - 1: v for k, v in plan.scratch.items() if k >= 1}
        plan.reverse = {k - 1: v for k, v in plan.reverse.items() if k >= 1}
    return plan


def _greedy_order(graph: Graph, ops: list[Op], keep: set[int]) -> list[int]:
    """A topological order that, at each step, runs the ready op that adds the fewest live bytes
    (its outputs minus the inputs it is the last reader of); ties keep the model's order."""
    producer = {t: i for i, op in enumerate(ops) for t in op.outputs}
    readers: dict[int, set[int]] = {}
    for i, op in enumerate(ops):
        for t in _activations(graph, op)[0]:
            readers.setdefault(t, set()).add(i)
    deps = [{producer[t] for t in _activations(graph, op)[0] if t in producer} for op in ops]
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(ops):
        ready = [i for i in range(len(ops)) if i not in done and deps[i] <= done]

        def growth(i: int) -> int:
            ins, outs = _activations(graph, ops[i])
            freed = sum(
                graph.tensors[t].size_bytes for t in ins
                if t not in keep and readers.get(t, set()) - done <= {i}
            )  # fmt: skip
            return sum(graph.tensors[t].size_bytes for t in outs) - freed

        best = min(ready, key=lambda i: (growth(i), i))
        done.add(best)
        order.append(best)
    return order


def _cmsis_tree(kernels: str, cmsis_nn: str | Path | None) -> Path | None:
    if kernels != "cmsis-nn":
        return None
    from tinylarge.tiny.codegen.cmsis import find_shared_tree

    return Path(cmsis_nn) if cmsis_nn is not None else find_shared_tree()


def generate(
    graph: Graph,
    prefix: str = "tl_model",
    overlap: bool = True,
    fuse: bool = True,
    kernels: str = "tinylarge",
    cmsis_nn: str | Path | None = None,
    stream: bool = True,
) -> GeneratedCode:
    """Lower ``graph`` to C sources held in memory (nothing is written).

    ``overlap`` lets outputs share bytes with dying inputs where the kernel allows it; ``fuse``
    folds zero-point PADs into the convolutions that read them; ``stream`` runs pairs of
    spatial ops row by row where that lowers the peak (``stream``). None changes the output
    bytes.
    """
    if not _IDENT.match(prefix):
        raise TinylargeError(f"prefix {prefix!r} is not a C identifier")
    c_in, c_out, ops, lowered, skipped = lower_graph(graph, fuse, kernels, cmsis_nn)
    streamed: list[int] = []
    if stream:
        ops, lowered, streamed = stream_stages(
            graph, ops, lowered, {c_in.index, c_out.index},
            lambda o, lw: plan_graph(graph, o, lw, c_in, c_out, overlap).arena_bytes,
        )  # fmt: skip
    # execution order: the model's, or a memory-greedy topological order if its plan is smaller
    plan = plan_graph(graph, ops, lowered, c_in, c_out, overlap)
    order = _greedy_order(graph, ops, {c_in.index, c_out.index})
    if order != list(range(len(ops))):
        ops2, low2 = [ops[i] for i in order], [lowered[i] for i in order]
        plan2 = plan_graph(graph, ops2, low2, c_in, c_out, overlap)
        if plan2.arena_bytes < plan.arena_bytes:
            ops, lowered, plan = ops2, low2, plan2
    header = _header(graph, prefix, c_in, c_out, plan.arena_bytes)
    source = _source(graph, prefix, plan, ops, lowered, c_in, c_out)
    if kernels == "cmsis-nn":
        source = source.replace(
            f'#include "{prefix}_kernels.h"\n',
            f'#include "{prefix}_kernels.h"\n#include "arm_nnfunctions.h" /* CMSIS-NN */\n',
        )
    files = {f"{prefix}.h": header, f"{prefix}.c": source, **kernel_sources(prefix)}
    return GeneratedCode(
        prefix=prefix,
        files=files,
        plan=plan,
        ops=[op.opcode for op in ops],
        nodes=[op.index for op in ops],
        fused_ops=[op.options["fused_pad_node"] for op in ops if "fused_pad_node" in op.options],
        streamed_ops=streamed,
        cmsis_nn=_cmsis_tree(kernels, cmsis_nn),
        kernels=sorted(
            {k for low in lowered for k in low.kernel.split("+") if k[:3] in ("tl_", "arm")}
        ),
        input=c_in,
        output=c_out,
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


def _edge_defines(up: str, side: str, e: Edge) -> str:
    shape = ", ".join(str(d) for d in e.shape)
    return (
        f"#define {up}_{side}_SIZE {int(np.prod(e.shape, dtype=np.int64))}\n"
        f"#define {up}_{side}_DIMS {len(e.shape)}\n"
        f"#define {up}_{side}_SHAPE {{{shape}}}\n"
        f"#define {up}_{side}_SCALE {luts.float_repr(e.scale)}\n"
        f"#define {up}_{side}_ZERO_POINT {e.zero_point}\n"
    )


def _io_type(e: Edge) -> str:
    return "int8_t" if e.float_index is None else "float"


def _header(graph: Graph, prefix: str, c_in: Edge, c_out: Edge, arena_bytes: int) -> str:
    up = prefix.upper()
    f_in, f_out = c_in.float_index is not None, c_out.float_index is not None
    float_api = ""
    if f_in:
        float_api += (
            f"/* Float input: {prefix}_input() holds {up}_INPUT_SIZE floats inside the arena (as\n"
            f" * TFLM's float input(0)). QUANTIZE `input` (NULL or {prefix}_input(): in place)\n"
            f" * into the int8 tensor {prefix}_invoke() reads. */\n"
            f"void {prefix}_quantize_input(const float *input);\n"
        )
    if f_out:
        float_api += (
            f"/* Float output: DEQUANTIZE the int8 result into `output` ({up}_OUTPUT_SIZE floats;\n"
            f" * NULL or {prefix}_output(): in place, inside the arena). */\n"
            f"void {prefix}_dequantize_output(float *output);\n"
        )
    if f_in and f_out:
        float_api += (
            f"/* quantize_input(input), invoke(NULL, NULL), dequantize_output(output): the whole\n"
            f" * model, as TFLM's Invoke(); NULL keeps each side in place in the arena. */\n"
            f"int {prefix}_invoke_f32(const float *input, float *output);\n"
        )
    invoke_doc = (
        f"/* Runs the model. `input` ({up}_INPUT_SIZE values) is copied into the arena unless\n"
        f" * it is {prefix}_input() (or NULL: already there); the result is copied to `output`\n"
        f" * ({up}_OUTPUT_SIZE values) unless it is {prefix}_output() or NULL. The arena input\n"
        " * is overwritten by the run. Returns 0. */\n"
    )
    if f_in or f_out:
        invoke_doc = (
            "/* Runs the int8 graph between the float edges: `input` (int8, NULL: already in the\n"
            "   arena, e.g. by quantize_input) and `output` (int8, NULL: left in the arena for\n"
            "   dequantize_output) are copied otherwise. Returns 0. */\n"
        )
    return (
        _banner(graph, f"{prefix}.h - int8 model API")
        + f"#ifndef {up}_H_\n#define {up}_H_\n\n#include <stdint.h>\n\n"
        + '#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
        + "/* int8 tensors, NHWC; real value = SCALE * (q - ZERO_POINT) */\n"
        + _edge_defines(up, "INPUT", c_in)
        + _edge_defines(up, "OUTPUT", c_out)
        + "/* one static arena holds the input, the output (float ones too) and every\n"
        + " * intermediate tensor */\n"
        + f"#define {up}_ARENA_BYTES {arena_bytes}\n\n"
        + invoke_doc
        + f"int {prefix}_invoke(const int8_t *input, int8_t *output);\n"
        + "/* Zero-copy I/O: the model's input and output tensors inside the arena. */\n"
        + f"{_io_type(c_in)} *{prefix}_input(void);\n"
        + f"{_io_type(c_out)} *{prefix}_output(void);\n"
        + float_api
        + "\n#ifdef __cplusplus\n}\n#endif\n\n"
        + f"#endif /* {up}_H_ */\n"
    )


def _fill(text: str, plan: MemoryPlan, position: int) -> str:
    text = _PLACEHOLDER.sub(lambda m: f"(arena + {plan.location[int(m.group(1))]})", text)
    text = text.replace(SCRATCH, f"(void *)(arena + {plan.scratch.get(position, 0)})")
    return text.replace(REVERSE, "1" if plan.reverse.get(position) else "0")


def _source(
    graph: Graph,
    prefix: str,
    plan: MemoryPlan,
    ops: list[Op],
    lowered: list[Lowered],
    c_in: Edge,
    c_out: Edge,
) -> str:
    up = prefix.upper()
    words = (plan.arena_bytes + 3) // 4 or 1
    in_off, out_off = plan.location[c_in.index], plan.location[c_out.index]
    parts = [
        _banner(graph, f"{prefix}.c - weights, folded quantization parameters and invoke()"),
        f'#include "{prefix}.h"\n\n#include <stddef.h>\n#include <string.h>\n\n'
        f'#include "{prefix}_kernels.h"\n',
        f"/* Hook after each op (node index), e.g. for per-op instruction counts. */\n"
        f"#ifndef {up}_OP_DONE\n#define {up}_OP_DONE(node) ((void)0)\n#endif\n",
        "/* One static arena (32-bit words: 4-byte aligned) holds every tensor, the model's\n"
        " * input and output (float ones too) included, at offsets planned ahead of time\n"
        f" * (order '{plan.order}'; {plan.n_overlapping} outputs overlap their input). Const data\n"
        " * stays in flash. */\n"
        f"static uint32_t {prefix}_arena_words[{words}];\n",
    ]
    for i, low in enumerate(lowered):
        if low.decls:
            parts.append(rename(_fill("\n".join(low.decls), plan, i), prefix) + "\n")
    body = []
    for i, (op, low) in enumerate(zip(ops, lowered, strict=True)):
        call = rename(_fill(low.call, plan, i), prefix)
        if not low.view:
            body.append(f"    /* node {op.index}: {op.opcode} */")
        body.append(f"    {call}")
        body.append(f"    {up}_OP_DONE({op.index});")
    model_in = c_in.index if c_in.float_index is None else c_in.float_index
    model_out = c_out.index if c_out.float_index is None else c_out.float_index
    for name, e, t in (("input", c_in, model_in), ("output", c_out, model_out)):
        parts.append(
            f"{_io_type(e)} *{prefix}_{name}(void) {{\n    return ({_io_type(e)} *)"
            f"((int8_t *){prefix}_arena_words + {plan.location[t]});\n}}\n"
        )
    parts.append(
        f"int {prefix}_invoke(const int8_t *input, int8_t *output) {{\n"
        f"    int8_t *const arena = (int8_t *){prefix}_arena_words;\n"
        f"    if (input != NULL && input != arena + {in_off}) {{\n"
        f"        memmove(arena + {in_off}, input, {up}_INPUT_SIZE);\n    }}\n"
        + "\n".join(body)
        + f"\n    if (output != NULL && output != arena + {out_off}) {{\n"
        f"        memmove(output, arena + {out_off}, {up}_OUTPUT_SIZE);\n    }}\n"
        "    return 0;\n}\n"
    )
    parts += _float_api(prefix, plan, c_in, c_out)
    return "\n".join(parts)


def _float_api(prefix: str, plan: MemoryPlan, c_in: Edge, c_out: Edge) -> list[str]:
    up, arena = prefix.upper(), f"(int8_t *){prefix}_arena_words"
    parts = []
    if c_in.float_index is not None:
        parts.append(
            f"/* QUANTIZE at the model input (TFLM quantize.h); in place from {prefix}_input():\n"
            " * the int8 tensor starts at or before the float one and is written first to last */\n"
            f"void {prefix}_quantize_input(const float *input) {{\n"
            f"    {prefix}_quantize_f32(input != NULL ? input : {prefix}_input(), "
            f"{arena} + {plan.location[c_in.index]}, {up}_INPUT_SIZE, "
            f"{luts.float_repr(c_in.scale)}, {c_in.zero_point});\n}}\n"
        )
    if c_out.float_index is not None:
        parts.append(
            "/* DEQUANTIZE at the model output (TFLM dequantize.h), one float per int8 value,\n"
            f" * last to first: in place into {prefix}_output(), which starts at or after the\n"
            " * int8 tensor */\n"
            + c_float_array(
                f"{prefix}_dequantize_lut", luts.dequantize_lut(c_out.scale, c_out.zero_point)
            )
            + f"\nvoid {prefix}_dequantize_output(float *output) {{\n"
            f"    {prefix}_dequantize_f32({prefix}_dequantize_lut, "
            f"{arena} + {plan.location[c_out.index]}, "
            f"output != NULL ? output : {prefix}_output(), {up}_OUTPUT_SIZE);\n}}\n"
        )
    if c_in.float_index is not None and c_out.float_index is not None:
        parts.append(
            f"int {prefix}_invoke_f32(const float *input, float *output) {{\n"
            f"    int status;\n    {prefix}_quantize_input(input);\n"
            f"    status = {prefix}_invoke(NULL, NULL);\n"
            f"    {prefix}_dequantize_output(output);\n    return status;\n}}\n"
        )
    return parts


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
