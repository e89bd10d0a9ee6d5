"""What every op lowering shares: the result type, the error, C text helpers and checks.

Lowering turns one graph op into C: constant data (packed weights, folded constants, tables, a
params struct) and one call into the kernel library, plus what the memory planner must know about
the kernel: its scratch bytes and how its output may overlap its input (:class:`Overlap`). Tensor
pointers, the scratch pointer and the iteration direction are placeholders (``@T12@``, ``@S@``,
``@R@``) filled in after planning. Every check that can fail raises :class:`UnsupportedOpError`
naming the op, its node index and what is unsupported, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.graph import Graph, Op, Tensor

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
SCRATCH = "@S@"
REVERSE = "@R@"


class UnsupportedOpError(TinylargeError):
    """An op or parameter combination the code generator does not support."""

    def __init__(self, op: Op, what: str) -> None:
        super().__init__(f"cannot generate C for op {op.opcode} (node {op.index}): {what}")
        self.opcode, self.node, self.what = op.opcode, op.index, what


@dataclass(frozen=True)
class Overlap:
    """How the output may share bytes with one input that dies at this op.

    With ``rel = offset(output) - offset(input)``, the bytes may overlap when ``rel <= fwd``
    (kernel run first to last) or ``rel >= bwd`` (run last to first); ``None`` disables a
    direction. ``exact`` allows only ``rel == 0`` (used when several inputs may overlap).
    """

    input: int
    output: int
    fwd: int | None
    bwd: int | None
    exact: bool = False


ANY = (0, 0)  # elementwise: element i is read before it is written, in either direction


@dataclass(frozen=True)
class RowKernel:
    """How to run a spatial kernel on a band of output rows (see ``stream``): its C name, the
    params struct (type, name), the constant arguments between input and output, and the
    geometry along H."""

    kernel: str
    params_type: str
    params_name: str
    const_args: str  # e.g. "op3_filter, op3_bias, op3_rq" ("" for pooling)
    has_scratch: bool
    in_h: int
    in_row_bytes: int
    out_h: int
    out_row_bytes: int
    stride: int
    pad: int
    eff_kernel: int  # (kernel_h - 1) * dilation_h + 1


@dataclass
class Lowered:
    """C for one op: file-scope declarations, the statement(s) inside ``invoke``, and what the
    planner needs (scratch bytes, overlap rules)."""

    kernel: str
    decls: list[str] = field(default_factory=list)
    call: str = ""
    scratch_bytes: int = 0
    overlaps: list[Overlap] = field(default_factory=list)
    view: bool = False  # the output is the input's bytes (RESHAPE and friends)
    rows: RowKernel | None = None  # set by kernels that can run on a band of output rows


# --- C text helpers (pure) -------------------------------------------------------------------


def c_array(ctype: str, name: str, values: np.ndarray | Sequence[int], per_line: int = 16) -> str:
    """``static const <ctype> name[n] = {...};`` with ``per_line`` values per line."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = []
    for i in range(0, len(flat), per_line):
        lines.append("    " + ", ".join(str(v) for v in flat[i : i + per_line]) + ",")
    body = "\n".join(lines) if lines else "    0,"
    if ctype == "int32_t":  # keep INT32_MIN a valid C int expression
        body = body.replace("-2147483648", "(-2147483647 - 1)")
    return f"static const {ctype} {name}[{max(len(flat), 1)}] = {{\n{body}\n}};"


def c_words(name: str, data: np.ndarray, per_line: int = 8) -> str:
    """Bytes (int8/int16 array) as ``static const uint32_t name[]`` little-endian words: the
    packed weights the DSP kernels load a word or two at a time (word-aligned, and read as
    bytes/halfwords by the portable path)."""
    raw = np.ascontiguousarray(data).tobytes()
    raw += b"\0" * (-len(raw) % 4)
    words = np.frombuffer(raw, dtype="<u4")
    lines = [
        "    " + ", ".join(f"0x{int(w):08x}u" for w in words[i : i + per_line]) + ","
        for i in range(0, len(words), per_line)
    ]
    return (
        f"static const uint32_t {name}[{max(len(words), 1)}] = {{\n"
        + "\n".join(lines or ["    0u,"])
        + "\n};"
    )


def c_float_array(name: str, values: np.ndarray, per_line: int = 6) -> str:
    from tinylarge.tiny.codegen.luts import float_repr

    flat = [float_repr(float(v)) for v in np.asarray(values, dtype=np.float32).reshape(-1)]
    lines = [
        "    " + ", ".join(flat[i : i + per_line]) + "," for i in range(0, len(flat), per_line)
    ]
    return f"static const float {name}[{len(flat)}] = {{\n" + "\n".join(lines) + "\n};"


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
    """What lowering needs besides the op: the graph. ``ptr`` gives the placeholder of a
    tensor's address, replaced by its arena offset once memory is planned."""

    graph: Graph

    def t(self, index: int) -> Tensor:
        return self.graph.tensors[index]

    @staticmethod
    def ptr(index: int) -> str:
        return f"@T{index}@"


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


def bias_data(op: Op, ctx: Context, n: int, index: int = 2) -> np.ndarray | None:
    """The int32 bias of a conv/FC op as a flat array, or ``None`` when the op has none."""
    idx = op.inputs[index] if len(op.inputs) > index else -1
    if idx < 0:
        return None
    b = ctx.t(idx)
    if b.dtype != np.int32:
        raise UnsupportedOpError(op, f"bias tensor {idx} has dtype {b.dtype}, need int32")
    data = const_data(op, b, "bias").reshape(-1)
    if data.size != n:
        raise UnsupportedOpError(op, f"bias has {data.size} values for {n} output channels")
    return data


# --- overlap rules (pure; see planner.py) -----------------------------------------------------


def spatial_overlap(
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    stride: int,
    pad: int,
    eff_kernel: int,
    along_w: tuple[int, int, int] | None = None,
) -> tuple[int | None, int | None]:
    """(fwd, bwd) bounds for a kernel producing NHWC output rows in order (batch 1).

    Row ``y`` reads input rows ``[y*stride - pad, y*stride - pad + eff_kernel)`` (clipped).
    Forward, row ``y`` is written while rows from ``start(y)`` on are still needed, so its bytes
    must end before ``start(y)``: ``rel <= start(y)*R_in - (y+1)*R_out``. Backward, rows up to
    ``end(y)`` are still needed: ``rel >= end(y)*R_in - y*R_out``. A 1-row tensor (a 1-D net
    written as Conv2d with (1, k) kernels) is the same along W, pixel by pixel: ``along_w`` =
    (stride, pad, eff_kernel) of W.
    """
    n, ih, iw, ic = in_shape
    _, oh, ow, oc = out_shape
    if n != 1:
        return None, None
    if ih == oh == 1 and along_w is not None:
        stride, pad, eff_kernel = along_w
        ih, oh, r_in, r_out = iw, ow, ic, oc
    else:
        r_in, r_out = iw * ic, ow * oc
    fwd = min(min(max(y * stride - pad, 0), ih) * r_in - (y + 1) * r_out for y in range(oh))
    bwd = max(min(max(y * stride - pad + eff_kernel, 0), ih) * r_in - y * r_out for y in range(oh))
    return fwd, bwd


def pixel_pair_overlap(n_px: int, in_c: int, out_c: int) -> tuple[int, int]:
    """(fwd, bwd) for a 1x1 kernel that reads a pair of pixels completely before writing it."""
    ends = list(range(2, n_px + 1, 2)) + ([n_px] if n_px % 2 else [])
    starts = list(range(n_px - 2, -1, -2)) + ([0] if n_px % 2 else [])
    fwd = min(b * (in_c - out_c) for b in ends)
    bwd = max(a * (in_c - out_c) for a in starts)
    return fwd, bwd
