"""Lowering of the weighted ops (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) and of pooling
and MEAN. Arithmetic: TFLM reference integer kernels (integer_ops/conv.h, depthwise_conv.h,
fully_connected.h, pooling.h; reduce.h for MEAN).
"""

from __future__ import annotations

import numpy as np

from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.lower_common import (
    Context,
    Lowered,
    UnsupportedOpError,
    act_range,
    bias_data,
    c_array,
    c_struct,
    check_int8,
    const_data,
    same_padding,
    scale,
    struct_call,
    zero_point,
)
from tinylarge.tiny.graph import Op


def fc_lowering(
    op: Op,
    ctx: Context,
    filter_2d: np.ndarray,
    bias: np.ndarray | None,
    mult: list[int],
    shift: list[int],
    batches: int,
    input_offset: int,
    filter_offset: int,
    comment: str,
) -> Lowered:
    """A ``tl_fully_connected_s8`` call: ``out[b, c] = requant(sum_d w[c, d] (x[b, d] + Zoff))``.

    With symmetric weights, ``input_offset * sum_d w[c, d]`` is folded into the bias here (as
    CMSIS-NN does), leaving a plain int8 dot product at run time; the int32 accumulator holds the
    same integer either way, so outputs stay bit-exact.
    """
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    out_depth, accum = filter_2d.shape
    act_min, act_max = act_range(op, y)
    name = f"op{op.index}"
    bias64 = np.zeros(out_depth, np.int64) if bias is None else bias.astype(np.int64)
    folded = bias64 + input_offset * filter_2d.astype(np.int64).sum(axis=1)
    fold = filter_offset == 0 and np.all(np.abs(folded) < 2**31)
    if fold:
        bias, input_offset = folded, 0
    params = {
        "batches": batches, "accum_depth": accum, "output_depth": out_depth,
        "input_offset": input_offset, "filter_offset": filter_offset,
        "output_offset": zero_point(y), "act_min": act_min, "act_max": act_max,
        "per_channel": int(len(mult) > 1),
    }  # fmt: skip
    struct = c_struct("tl_fc_params_t", f"{name}_params", params, comment)
    args = (name, filter_2d, bias, mult, shift, ctx.ptr(x.index), ctx.ptr(y.index))
    return _weighted_call("tl_fully_connected_s8", struct, *args)


def _weighted_call(
    kernel: str, struct: str, name: str, weights: np.ndarray, bias: np.ndarray | None,
    mult: np.ndarray, shift: np.ndarray, x_ptr: str, y_ptr: str,
) -> Lowered:  # fmt: skip
    """The params struct, int8 weights, optional int32 bias and per-channel requantization as
    const arrays, and the call ``kernel(&params, x, filter, bias|NULL, mult, shift, y)``."""
    decls = [struct, c_array("int8_t", f"{name}_filter", weights, 16)]
    bias_ref = "NULL"
    if bias is not None:
        decls.append(c_array("int32_t", f"{name}_bias", bias, 8))
        bias_ref = f"{name}_bias"
    decls += [
        c_array("int32_t", f"{name}_mult", mult, 8),
        c_array("int32_t", f"{name}_shift", shift, 16),
    ]
    n = name
    call = f"{kernel}(&{n}_params, {x_ptr}, {n}_filter, {bias_ref}, {n}_mult, {n}_shift, {y_ptr});"
    return Lowered(kernel, decls, call)


def _conv_like(op: Op, ctx: Context, depthwise: bool) -> Lowered:
    x, w, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    for t, role in ((x, "input"), (w, "filter"), (y, "output")):
        check_int8(op, t, role)
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise UnsupportedOpError(op, "only 4-D NHWC tensors are supported")
    o = op.options
    n, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = w.shape[1], w.shape[2]
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    dh, dw = o.get("dilation_h", 1) or 1, o.get("dilation_w", 1) or 1
    if depthwise:
        dm = oc // ic
        if dm * ic != oc or w.shape[3] != oc or (o.get("depth_multiplier") or dm) != dm:
            raise UnsupportedOpError(op, f"depth multiplier: {ic} in, {oc} out, filter {w.shape}")
        filter_c = 1
    else:
        filter_c = w.shape[3]
        if w.shape[0] != oc or ic % filter_c or oc % (ic // filter_c):
            raise UnsupportedOpError(op, f"filter {w.shape} does not match {ic}->{oc} channels")
        dm = 1
    wscale = w.scale if w.scale.size == oc else np.full(oc, w.scale[0], dtype=np.float32)
    if np.any(w.zero_point != 0):
        raise UnsupportedOpError(op, "filter zero point must be 0 (symmetric int8 weights)")
    mult, shift = qm.conv_multipliers(scale(x), wscale, scale(y))
    if "explicit_padding" in o:  # a PAD folded into this conv (fuse.py)
        top, left, bottom, right = o["explicit_padding"]
        for size, pad, k, d, s, out in (
            (ih, top + bottom, kh, dh, sh, oh),
            (iw, left + right, kw, dw, sw, ow),
        ):
            if (size + pad - ((k - 1) * d + 1)) // s + 1 != out:
                raise UnsupportedOpError(
                    op, f"folded padding {o['explicit_padding']} gives a wrong output size"
                )
        pad_h, pad_w = top, left
    else:
        pad_h, pad_w = same_padding(op, sh, dh, ih, kh, oh), same_padding(op, sw, dw, iw, kw, ow)
    weights = const_data(op, w, "filter")
    bias = bias_data(op, ctx, oc)
    comment = f"node {op.index}: {op.opcode}"
    if "fused_pad_node" in o:
        comment += f" (PAD node {o['fused_pad_node']} folded in as padding)"
    if (
        not depthwise
        and kh == kw == 1
        and sh == sw == 1
        and filter_c == ic
        and (oh, ow) == (ih, iw)
    ):
        # A pointwise conv is a fully connected layer over the n*h*w pixels (NHWC rows).
        return fc_lowering(
            op, ctx, weights.reshape(oc, ic), bias, mult, shift, n * ih * iw, -zero_point(x), 0,
            comment + " (1x1, as FULLY_CONNECTED over pixels)",
        )  # fmt: skip
    act_min, act_max = act_range(op, y)
    name = f"op{op.index}"
    kernel = "tl_depthwise_conv2d_s8" if depthwise else "tl_conv2d_s8"
    params = {
        "batches": n, "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow,
        "out_c": oc, "filter_h": kh, "filter_w": kw, "filter_c": filter_c,
        "stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw,
        "pad_h": pad_h, "pad_w": pad_w, "depth_multiplier": dm,
        "input_offset": -zero_point(x), "output_offset": zero_point(y),
        "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    struct = c_struct("tl_conv_params_t", f"{name}_params", params, comment)
    args = (name, weights, bias, mult, shift, ctx.ptr(x.index), ctx.ptr(y.index))
    return _weighted_call(kernel, struct, *args)


def lower_conv2d(op: Op, ctx: Context) -> Lowered:
    return _conv_like(op, ctx, depthwise=False)


def lower_depthwise(op: Op, ctx: Context) -> Lowered:
    return _conv_like(op, ctx, depthwise=True)


def lower_fully_connected(op: Op, ctx: Context) -> Lowered:
    x, w, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    for t, role in ((x, "input"), (w, "filter"), (y, "output")):
        check_int8(op, t, role)
    if len(w.shape) != 2:
        raise UnsupportedOpError(op, f"filter shape {w.shape}, need 2-D")
    out_depth, accum = w.shape
    if x.n_elements % accum or y.n_elements != x.n_elements // accum * out_depth:
        raise UnsupportedOpError(op, f"input {x.shape} does not match filter {w.shape}")
    per_channel = w.scale.size > 1
    if per_channel:
        mult, shift = qm.conv_multipliers(scale(x), w.scale, scale(y))
        if np.any(w.zero_point != 0):
            raise UnsupportedOpError(op, "per-channel filter zero point must be 0")
    else:
        m, s = qm.fc_multiplier(scale(x), float(w.scale[0]), scale(y))
        mult, shift = [m], [s]
    return fc_lowering(
        op, ctx, const_data(op, w, "filter"), bias_data(op, ctx, out_depth), mult, shift,
        x.n_elements // accum, -zero_point(x), 0 if per_channel else -zero_point(w),
        f"node {op.index}: {op.opcode}",
    )  # fmt: skip


def _pool(op: Op, ctx: Context, kernel: str) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    check_int8(op, y, "output")
    if len(x.shape) != 4:
        raise UnsupportedOpError(op, "only 4-D NHWC input is supported")
    if scale(x) != scale(y) or zero_point(x) != zero_point(y):
        raise UnsupportedOpError(op, "input and output quantization must match")
    o = op.options
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    fh, fw, sh, sw = o["filter_h"], o["filter_w"], o["stride_h"], o["stride_w"]
    act_min, act_max = act_range(op, y)
    params = {
        "batches": n, "in_h": ih, "in_w": iw, "channels": c, "out_h": oh, "out_w": ow,
        "filter_h": fh, "filter_w": fw, "stride_h": sh, "stride_w": sw,
        "pad_h": same_padding(op, sh, 1, ih, fh, oh), "pad_w": same_padding(op, sw, 1, iw, fw, ow),
        "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    return struct_call(op, ctx, kernel, "tl_pool_params_t", params)


def lower_avg_pool(op: Op, ctx: Context) -> Lowered:
    return _pool(op, ctx, "tl_avg_pool_s8")


def lower_max_pool(op: Op, ctx: Context) -> Lowered:
    return _pool(op, ctx, "tl_max_pool_s8")


def lower_mean(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    check_int8(op, y, "output")
    rank = len(x.shape)
    axes = sorted({int(a) % rank for a in const_data(op, ctx.t(op.inputs[1]), "axis").reshape(-1)})
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise UnsupportedOpError(op, f"axes {axes} are not contiguous")
    outer = int(np.prod(x.shape[: axes[0]], dtype=np.int64))
    reduced = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    inner = int(np.prod(x.shape[axes[-1] + 1 :], dtype=np.int64))
    if outer * inner != y.n_elements:
        raise UnsupportedOpError(op, f"output {y.shape} does not match reducing {x.shape}")
    m, s = qm.mean_params(scale(x), scale(y), reduced)
    params = {
        "outer": outer, "reduced": reduced, "inner": inner, "input_zero_point": zero_point(x),
        "output_zero_point": zero_point(y), "multiplier": m, "shift": s,
    }  # fmt: skip
    return struct_call(op, ctx, "tl_mean_s8", "tl_mean_params_t", params)
