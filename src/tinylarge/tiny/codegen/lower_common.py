"""What every op lowering shares: the result type, the error, C text helpers and checks.

Lowering turns one graph op into C: constant data (weights, folded multipliers, a params struct)
and one call into the kernel library. Every check that can fail raises
:class:`UnsupportedOpError` naming the op, its node index and what is unsupported, before
anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.graph import Graph, Op, Tensor

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


class UnsupportedOpError(TinylargeError):
    """An op or parameter combination the code generator does not support."""

    def __init__(self, op: Op, what: str) -> None:
        super().__init__(f"cannot generate C for op {op.opcode} (node {op.index}): {what}")
        self.opcode, self.node, self.what = op.opcode, op.index, what


@dataclass
class Lowered:
    """C for one op: file-scope declarations and the statement(s) inside ``invoke``."""

    kernel: str
    decls: list[str] = field(default_factory=list)
    call: str = ""


# --- C text helpers (pure) -------------------------------------------------------------------


def c_array(ctype: str, name: str, values: np.ndarray | list[int], per_line: int = 16) -> str:
    """``static const <ctype> name[n] = {...};`` with ``per_line`` values per line."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = []
    for i in range(0, len(flat), per_line):
        lines.append("    " + ", ".join(str(v) for v in flat[i : i + per_line]) + ",")
    body = "\n".join(lines) if lines else "    0,"
    return f"static const {ctype} {name}[{max(len(flat), 1)}] = {{\n{body}\n}};"


def c_struct(ctype: str, name: str, fields: dict[str, object], comment: str = "") -> str:
    """``static const <ctype> name = {.a = 1, ...};`` (C99 designated initializers)."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, list | tuple):
            value = "{" + ", ".join(str(int(v)) for v in value) + "}"
        parts.append(f"    .{key} = {value},")
    head = f"/* {comment} */\n" if comment else ""
    return head + f"static const {ctype} {name} = {{\n" + "\n".join(parts) + "\n};"


# --- shared checks ---------------------------------------------------------------------------


@dataclass
class Context:
    """What lowering needs besides the op: the graph and C expressions for tensor pointers."""

    graph: Graph
    ptr: Callable[[int], str]

    def t(self, index: int) -> Tensor:
        return self.graph.tensors[index]


def struct_call(
    op: Op, ctx: Context, kernel: str, struct: str, params: dict[str, object], n_inputs: int = 1
) -> Lowered:
    """One const params struct of type ``struct`` and the call
    ``kernel(&params, input_0, ..., output)`` on the op's first ``n_inputs`` inputs."""
    name = f"op{op.index}"
    decls = [c_struct(struct, f"{name}_params", params, f"node {op.index}: {op.opcode}")]
    args = ", ".join(ctx.ptr(t) for t in (*op.inputs[:n_inputs], op.outputs[0]))
    return Lowered(kernel, decls, f"{kernel}(&{name}_params, {args});")


def check_int8(op: Op, t: Tensor, role: str) -> None:
    if t.dtype != np.int8:
        raise UnsupportedOpError(op, f"{role} tensor {t.index} has dtype {t.dtype}, need int8")
    if t.scale.size == 0:
        raise UnsupportedOpError(op, f"{role} tensor {t.index} is not quantized")


def const_data(op: Op, t: Tensor, role: str) -> np.ndarray:
    if t.data is None:
        raise UnsupportedOpError(op, f"{role} tensor {t.index} must be a constant")
    return t.data


def act_range(op: Op, out: Tensor) -> tuple[int, int]:
    act = op.options.get("fused_activation", "NONE")
    if act not in ACTIVATIONS:
        raise UnsupportedOpError(op, f"fused activation {act}; valid: {', '.join(ACTIVATIONS)}")
    return qm.activation_range(act, float(out.scale[0]), int(out.zero_point[0]))


def zero_point(t: Tensor) -> int:
    return int(t.zero_point[0]) if t.zero_point.size else 0


def scale(t: Tensor) -> float:
    return float(t.scale[0])


def same_padding(op: Op, stride: int, dilation: int, in_size: int, k: int, out_size: int) -> int:
    """TFLM ComputePaddingHeightWidth: the leading half of the total padding."""
    eff = (k - 1) * dilation + 1
    padding = op.options.get("padding", "VALID")
    expect = (
        (in_size + stride - 1) // stride
        if padding == "SAME"
        else (in_size - eff + stride) // stride
    )
    if expect != out_size:
        raise UnsupportedOpError(op, f"output size {out_size} != {expect} for {padding} padding")
    if padding == "VALID":
        return 0
    return max(((out_size - 1) * stride + eff - in_size) // 2, 0)


def bias_data(op: Op, ctx: Context, n: int) -> np.ndarray | None:
    """The int32 bias of a conv/FC op as a flat array, or ``None`` when the op has none."""
    idx = op.inputs[2] if len(op.inputs) > 2 else -1
    if idx < 0:
        return None
    b = ctx.t(idx)
    if b.dtype != np.int32:
        raise UnsupportedOpError(op, f"bias tensor {idx} has dtype {b.dtype}, need int32")
    data = const_data(op, b, "bias").reshape(-1)
    if data.size != n:
        raise UnsupportedOpError(op, f"bias has {data.size} values for {n} output channels")
    return data
