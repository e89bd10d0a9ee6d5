"""Lowering of elementwise and data-movement ops: ADD, MUL (with broadcasting), SOFTMAX,
LOGISTIC, QUANTIZE (int8 requantize), PAD, CONCATENATION and the views (RESHAPE, SQUEEZE,
EXPAND_DIMS). Arithmetic: TFLM reference kernels (integer_ops/add.h, mul.h, logistic.h,
reference/softmax.h, requantize.h, pad.h, concatenation.h).
"""

from __future__ import annotations

import numpy as np

from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.lower_common import (
    Context,
    Lowered,
    UnsupportedOpError,
    act_range,
    c_array,
    check_int8,
    const_data,
    scale,
    struct_call,
    zero_point,
)
from tinylarge.tiny.graph import Op, Tensor


def _broadcast(op: Op, a: Tensor, b: Tensor, y: Tensor) -> dict[str, object]:
    rank = len(y.shape)
    if rank > 6 or len(a.shape) > rank or len(b.shape) > rank:
        raise UnsupportedOpError(op, f"broadcast of {a.shape} and {b.shape} to {y.shape}")
    out = list(y.shape) or [1]

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


def _binary(op: Op, ctx: Context, kernel: str) -> Lowered:
    a, b, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    for t, role in ((a, "input1"), (b, "input2"), (y, "output")):
        check_int8(op, t, role)
    params = _broadcast(op, a, b, y)
    params |= {
        "input1_offset": -zero_point(a),
        "input2_offset": -zero_point(b),
        "output_offset": zero_point(y),
    }
    if kernel == "tl_add_s8":
        mult, shift = qm.add_params(scale(a), scale(b), scale(y))
        params |= {
            "input1_multiplier": mult[0], "input1_shift": shift[0],
            "input2_multiplier": mult[1], "input2_shift": shift[1],
            "output_multiplier": mult[2], "output_shift": shift[2], "left_shift": 20,
        }  # fmt: skip
    else:
        m, s = qm.mul_params(scale(a), scale(b), scale(y))
        params |= {"output_multiplier": m, "output_shift": s}
    act_min, act_max = act_range(op, y)
    params |= {"act_min": act_min, "act_max": act_max}
    return struct_call(op, ctx, kernel, "tl_binary_params_t", params, n_inputs=2)


def lower_add(op: Op, ctx: Context) -> Lowered:
    return _binary(op, ctx, "tl_add_s8")


def lower_mul(op: Op, ctx: Context) -> Lowered:
    return _binary(op, ctx, "tl_mul_s8")


def lower_view(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    if x.size_bytes != y.size_bytes or x.dtype != y.dtype:
        raise UnsupportedOpError(op, f"{x.shape} {x.dtype} -> {y.shape} {y.dtype} changes bytes")
    src, dst = ctx.ptr(x.index), ctx.ptr(y.index)
    if src == dst:
        return Lowered("(view)", [], f"/* node {op.index}: {op.opcode} is a view, no copy */")
    return Lowered("tl_copy_s8", [], f"tl_copy_s8({src}, {dst}, {y.size_bytes});")


def lower_softmax(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    check_int8(op, y, "output")
    if zero_point(y) != -128 or np.float32(scale(y)) != np.float32(1.0 / 256):
        raise UnsupportedOpError(op, "int8 output must have scale 1/256 and zero point -128")
    m, s, diff_min = qm.softmax_params(scale(x), float(op.options.get("beta", 1.0)))
    depth = x.shape[-1]
    params = {
        "outer": x.n_elements // depth, "depth": depth, "input_multiplier": m,
        "input_left_shift": s, "diff_min": diff_min,
    }  # fmt: skip
    return struct_call(op, ctx, "tl_softmax_s8", "tl_softmax_params_t", params)


def lower_logistic(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    check_int8(op, y, "output")
    if zero_point(y) != -128:
        raise UnsupportedOpError(op, "int8 output zero point must be -128")
    m, s, radius = qm.logistic_params(scale(x))
    params = {
        "size": x.n_elements, "input_zero_point": zero_point(x), "input_range_radius": radius,
        "input_multiplier": m, "input_left_shift": s,
    }  # fmt: skip
    return struct_call(op, ctx, "tl_logistic_s8", "tl_logistic_params_t", params)


def lower_quantize(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    if x.dtype != np.int8 or y.dtype != np.int8:
        raise UnsupportedOpError(
            op, f"{x.dtype} -> {y.dtype}; only int8 -> int8 inside the graph (float at the edges)"
        )
    m, s = qm.requantize_params(scale(x), scale(y))
    params = {
        "size": x.n_elements, "input_zero_point": zero_point(x), "output_zero_point": zero_point(y),
        "multiplier": m, "shift": s,
    }  # fmt: skip
    return struct_call(op, ctx, "tl_requantize_s8", "tl_requant_params_t", params)


def lower_pad(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    pads = const_data(op, ctx.t(op.inputs[1]), "paddings").reshape(-1, 2).astype(np.int64)
    if len(x.shape) > 4 or pads.shape[0] != len(x.shape):
        raise UnsupportedOpError(op, f"paddings {pads.tolist()} for input {x.shape}")
    if np.any(pads < 0):
        raise UnsupportedOpError(op, "negative paddings")
    value = zero_point(y)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = int(const_data(op, ctx.t(op.inputs[2]), "constant_values").reshape(-1)[0])
    extra = 4 - len(x.shape)
    params = {
        "in_shape": [1] * extra + list(x.shape),
        "before": [0] * extra + pads[:, 0].tolist(),
        "after": [0] * extra + pads[:, 1].tolist(),
        "pad_value": value,
    }
    return struct_call(op, ctx, "tl_pad_s8", "tl_pad_params_t", params)


def lower_concat(op: Op, ctx: Context) -> Lowered:
    y = ctx.t(op.outputs[0])
    xs = [ctx.t(i) for i in op.inputs]
    for t in [*xs, y]:
        check_int8(op, t, "input/output")
        if t.data is not None:
            raise UnsupportedOpError(op, f"constant input tensor {t.index}")
        if np.float32(scale(t)) != np.float32(scale(y)) or zero_point(t) != zero_point(y):
            raise UnsupportedOpError(op, "inputs with a quantization different from the output")
    if op.options.get("fused_activation", "NONE") != "NONE":
        raise UnsupportedOpError(op, "fused activation on CONCATENATION")
    axis = int(op.options.get("axis", 0)) % len(y.shape)
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    sizes = [t.n_elements // outer for t in xs]
    name = f"op{op.index}"
    decls = [c_array("int32_t", f"{name}_sizes", sizes, 16)]
    ins = ", ".join(ctx.ptr(t.index) for t in xs)
    call = (
        f"{{\n        const int8_t *const ins[{len(xs)}] = {{{ins}}};\n"
        f"        tl_concat_s8({len(xs)}, ins, {name}_sizes, {outer}, {ctx.ptr(y.index)});\n    }}"
    )
    return Lowered("tl_concat_s8", decls, call)
