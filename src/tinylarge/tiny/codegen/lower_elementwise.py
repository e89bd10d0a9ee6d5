"""Lowering of elementwise ops: ADD, SUB, MUL, PRELU (broadcasting), the unary ops through
256-entry tables (RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH, TANH, LOGISTIC, int8
QUANTIZE) and SOFTMAX. Arithmetic: TFLM reference kernels (add.h, sub.h, mul.h, prelu.h,
activations, leaky_relu.h, hard_swish.h, integer_ops/tanh.h, logistic.h, requantize, softmax.h);
the tables are computed in ``luts``.
"""

from __future__ import annotations

import numpy as np

from tinylarge.tiny.codegen import luts
from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.lower_common import (
    ANY,
    REVERSE,
    Context,
    Lowered,
    Overlap,
    UnsupportedOpError,
    act_range,
    c_array,
    c_struct,
    check_int8,
    scale,
    zero_point,
)
from tinylarge.tiny.graph import Op, Tensor

BINARY_OPS = {"ADD": 0, "SUB": 1, "MUL": 2, "PRELU": 3}


def _broadcast(op: Op, a: Tensor, b: Tensor, y: Tensor) -> dict[str, object]:
    out = list(y.shape) or [1]
    if tuple(a.shape) == tuple(b.shape) == tuple(y.shape):
        return {"n_dims": 0, "out_shape": [y.n_elements, 1, 1, 1, 1, 1],
                "in1_strides": [0] * 6, "in2_strides": [0] * 6}  # fmt: skip
    if len(out) > 6 or len(a.shape) > len(out) or len(b.shape) > len(out):
        raise UnsupportedOpError(op, f"broadcast of {a.shape} and {b.shape} to {y.shape}")

    def strides(shape: tuple[int, ...]) -> list[int]:
        full = [1] * (len(out) - len(shape)) + list(shape)
        st, acc = [0] * len(out), 1
        for d in range(len(out) - 1, -1, -1):
            if full[d] not in (1, out[d]):
                raise UnsupportedOpError(op, f"shapes {a.shape} and {b.shape} do not broadcast")
            st[d] = acc if full[d] == out[d] and out[d] != 1 else 0
            acc *= full[d]
        return st

    pad = [0] * (6 - len(out))
    return {
        "n_dims": len(out),
        "out_shape": out + [1] * len(pad),
        "in1_strides": strides(a.shape) + pad,
        "in2_strides": strides(b.shape) + pad,
    }


def _fast_rows(opcode: str, p: dict, out_zp: int) -> list[int] | None:
    """Three tl_rq rows (input1, input2, output) for the binary kernel, or None when a
    rescaling does not fit the one-multiply form. Accumulator bounds: inputs shifted left by
    20 bits stay below 2**28, products of two offset int8 below 2**16."""
    zero = [0, 0, 0, 0]

    def row(m: int, s: int, zp: int, bound: int) -> list[int] | None:
        t = qm.fast_requant_table([m], [s], zp, bound)
        return None if t is None else [int(v) for v in t[0]]

    if opcode in ("ADD", "SUB"):
        rows = [
            row(p["input1_multiplier"], p["input1_shift"], 0, 255 << 20),
            row(p["input2_multiplier"], p["input2_shift"], 0, 255 << 20),
            row(p["output_multiplier"], p["output_shift"], out_zp, 2**29),
        ]
    elif opcode == "MUL":
        rows = [zero, zero, row(p["output_multiplier"], p["output_shift"], out_zp, 255 * 255)]
    else:  # PRELU
        rows = [
            row(p["output_multiplier"], p["output_shift"], out_zp, 255),
            zero,
            row(p["input1_multiplier"], p["input1_shift"], out_zp, 255 * 255),
        ]
    if any(r is None for r in rows):
        return None
    return [v for r in rows for v in r]


def lower_binary(op: Op, ctx: Context) -> Lowered:
    a, b, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    for t, role in ((a, "input1"), (b, "input2"), (y, "output")):
        check_int8(op, t, role)
    params = {"op": BINARY_OPS[op.opcode], **_broadcast(op, a, b, y)}
    params |= {
        "input1_offset": -zero_point(a), "input2_offset": -zero_point(b),
        "output_offset": zero_point(y),
        "input1_multiplier": 0, "input1_shift": 0, "input2_multiplier": 0, "input2_shift": 0,
        "output_multiplier": 0, "output_shift": 0, "left_shift": 20,
    }  # fmt: skip
    if op.opcode in ("ADD", "SUB"):
        fn = qm.add_params if op.opcode == "ADD" else qm.sub_params
        mult, shift = fn(scale(a), scale(b), scale(y))
        params |= {
            "input1_multiplier": mult[0], "input1_shift": shift[0],
            "input2_multiplier": mult[1], "input2_shift": shift[1],
            "output_multiplier": mult[2], "output_shift": shift[2],
        }  # fmt: skip
    elif op.opcode == "MUL":
        params["output_multiplier"], params["output_shift"] = qm.mul_params(
            scale(a), scale(b), scale(y)
        )
    else:  # PRELU: input2 is alpha
        (m1, s1), (m2, s2) = qm.prelu_params(scale(a), scale(b), scale(y))
        params |= {"output_multiplier": m1, "output_shift": s1,
                   "input1_multiplier": m2, "input1_shift": s2}  # fmt: skip
    if op.opcode == "PRELU":
        act_min, act_max = -128, 127
    else:
        act_min, act_max = act_range(op, y)
    rq = _fast_rows(op.opcode, params, zero_point(y))
    params |= {"act_min": act_min, "act_max": act_max, "reverse": REVERSE,
               "fast": int(rq is not None), "rq": rq if rq is not None else [0] * 12}  # fmt: skip
    name = f"op{op.index}"
    decls = [
        c_struct("tl_binary_params_t", f"{name}_params", params, f"node {op.index}: {op.opcode}")
    ]
    args = []
    for k, t in enumerate((a, b)):
        if t.data is not None:  # a constant operand (PRELU's alpha, a scale vector ...)
            decls.append(c_array("int8_t", f"{name}_in{k + 1}", t.data, 16))
            args.append(f"{name}_in{k + 1}")
        else:
            args.append(ctx.ptr(t.index))
    call = f"tl_binary_s8(&{name}_params, {args[0]}, {args[1]}, {ctx.ptr(y.index)});"
    same = [t.index for t in (a, b) if t.data is None and tuple(t.shape) == tuple(y.shape)]
    same = list(dict.fromkeys(same))
    exact = len(same) > 1  # several inputs may share the output: only in place
    # broadcasting loops run forward only: an output element is written after its inputs
    rule = ANY if params["n_dims"] == 0 else (0, None)
    overlaps = [Overlap(t, y.index, *rule, exact=exact) for t in same]
    return Lowered("tl_binary_s8", decls, call, overlaps=overlaps)


def _table(op: Op, x: Tensor, y: Tensor) -> np.ndarray:
    si, zi, so, zo = scale(x), zero_point(x), scale(y), zero_point(y)
    code = op.opcode
    if code == "RELU":
        return luts.relu_lut(si, zi, so, zo)
    if code == "RELU6":
        return luts.relu6_lut(si, zi)
    if code == "RELU_N1_TO_1":
        lo, hi = qm.activation_range("RELU_N1_TO_1", si, zi)
        return luts.table(lambda v: min(max(v, lo), hi))
    if code == "LEAKY_RELU":
        return luts.leaky_relu_lut(si, zi, so, zo, float(op.options.get("alpha", 0.2)))
    if code == "HARD_SWISH":
        try:
            return luts.hard_swish_lut(si, zi, so, zo)
        except ValueError as exc:
            raise UnsupportedOpError(op, str(exc)) from None
    if code == "TANH":
        return luts.tanh_lut(si, zi)
    if code == "LOGISTIC":
        if zo != -128:
            raise UnsupportedOpError(op, "int8 output zero point must be -128")
        return luts.logistic_lut(si, zi)
    return luts.requantize_lut(si, zi, so, zo)  # QUANTIZE int8 -> int8


def lower_unary(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    if op.opcode == "QUANTIZE" and (x.dtype != np.int8 or y.dtype != np.int8):
        raise UnsupportedOpError(
            op, f"{x.dtype} -> {y.dtype}; only int8 -> int8 inside the graph (float at the edges)"
        )
    check_int8(op, x, "input")
    check_int8(op, y, "output")
    if x.n_elements != y.n_elements:
        raise UnsupportedOpError(op, f"input {x.shape} and output {y.shape} differ in size")
    name = f"op{op.index}"
    decls = [
        f"/* node {op.index}: {op.opcode} as a table (TFLM's integer arithmetic per input) */",
        c_array("int8_t", f"{name}_lut", _table(op, x, y), 16),
    ]
    call = (
        f"tl_lut_s8({name}_lut, {ctx.ptr(x.index)}, {ctx.ptr(y.index)}, {y.n_elements}, {REVERSE});"
    )
    return Lowered("tl_lut_s8", decls, call, overlaps=[Overlap(x.index, y.index, *ANY)])


def lower_softmax(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    check_int8(op, y, "output")
    if zero_point(y) != -128 or np.float32(scale(y)) != np.float32(1.0 / 256):
        raise UnsupportedOpError(op, "int8 output must have scale 1/256 and zero point -128")
    depth = x.shape[-1]
    params = {"outer": x.n_elements // depth, "depth": depth}
    name = f"op{op.index}"
    decls = [
        c_struct("tl_softmax_params_t", f"{name}_params", params, f"node {op.index}: SOFTMAX"),
        c_array(
            "int32_t", f"{name}_exp",
            luts.softmax_exp_lut(scale(x), float(op.options.get("beta", 1.0))), 6,
        ),
    ]  # fmt: skip
    call = f"tl_softmax_s8(&{name}_params, {name}_exp, {ctx.ptr(x.index)}, {ctx.ptr(y.index)});"
    return Lowered("tl_softmax_s8", decls, call, overlaps=[Overlap(x.index, y.index, 0, None)])
