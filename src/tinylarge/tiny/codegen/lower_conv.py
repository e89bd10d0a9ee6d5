"""Lowering of the weighted ops: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV.

Arithmetic: TFLM reference integer kernels (integer_ops/conv.h, depthwise_conv.h,
fully_connected.h, transpose_conv.h). The fast kernels need symmetric weights and a
requantization that fits the one-multiply form (``quantmath.fast_requant_table``); anything else
falls back to the reference loops, which compute the same integers more slowly.
"""

from __future__ import annotations

import numpy as np

from tinylarge.tiny.codegen import packing
from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.lower_common import (
    REVERSE,
    SCRATCH,
    Context,
    Lowered,
    Overlap,
    RowKernel,
    UnsupportedOpError,
    act_range,
    bias_data,
    c_array,
    c_struct,
    c_words,
    check_int8,
    const_data,
    pixel_pair_overlap,
    same_padding,
    scale,
    spatial_overlap,
    zero_point,
)
from tinylarge.tiny.graph import Op

INT32_RANGE = (-(2**31), 2**31 - 1)


def _fits_int32(values: np.ndarray) -> bool:
    return bool(np.all((values >= INT32_RANGE[0]) & (values <= INT32_RANGE[1])))


def _ref_call(
    op: Op,
    ctx: Context,
    kernel: str,
    params: dict,
    weights: np.ndarray,
    bias: np.ndarray | None,
    mult: list[int],
    shift: list[int],
    comment: str,
) -> Lowered:
    name = f"op{op.index}"
    decls = [
        c_struct("tl_conv_ref_params_t", f"{name}_params", params, comment),
        c_array("int8_t", f"{name}_filter", weights, 16),
        c_array("int32_t", f"{name}_mult", mult, 8),
        c_array("int32_t", f"{name}_shift", shift, 16),
    ]
    bias_ref = "NULL"
    if bias is not None:
        decls.append(c_array("int32_t", f"{name}_bias", bias, 8))
        bias_ref = f"{name}_bias"
    x, y = op.inputs[0] if kernel != "tl_transpose_conv_s8" else op.inputs[2], op.outputs[0]
    call = (
        f"{kernel}(&{name}_params, {ctx.ptr(x)}, {name}_filter, {bias_ref}, {name}_mult, "
        f"{name}_shift, {ctx.ptr(y)});"
    )
    return Lowered(kernel, decls, call)


def _ref_conv(
    op: Op, ctx: Context, kernel: str, weights: np.ndarray, bias: np.ndarray | None,
    kh: int, kw: int, filter_c: int, dm: int, note: str,
) -> Lowered:  # fmt: skip
    """TFLM's loop (``tl_conv_ref_s8`` / ``tl_depthwise_ref_s8``): grouped convolutions and
    requantizations outside the one-multiply form."""
    x, w, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    n, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    sh, sw, dh, dw, pad_h, pad_w = conv_geometry(op, ih, iw, kh, kw, oh, ow)
    wscale = w.scale if w.scale.size == oc else np.full(oc, w.scale[0], dtype=np.float32)
    mult, shift = qm.conv_multipliers(scale(x), wscale, scale(y))
    act_min, act_max = act_range(op, y)
    params = {
        "batches": n, "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow,
        "out_c": oc, "filter_h": kh, "filter_w": kw, "filter_c": filter_c,
        "stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw,
        "pad_h": pad_h, "pad_w": pad_w, "depth_multiplier": dm,
        "input_offset": -zero_point(x), "output_offset": zero_point(y),
        "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    return _ref_call(op, ctx, kernel, params, weights, bias, mult, shift, _comment(op) + note)


def conv_geometry(op: Op, ih: int, iw: int, kh: int, kw: int, oh: int, ow: int):
    """(stride h/w, dilation h/w, leading padding h/w) of a convolution, checked."""
    o = op.options
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    dh, dw = o.get("dilation_h", 1) or 1, o.get("dilation_w", 1) or 1
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
        return sh, sw, dh, dw, top, left
    return (
        sh,
        sw,
        dh,
        dw,
        same_padding(op, sh, dh, ih, kh, oh),
        same_padding(op, sw, dw, iw, kw, ow),
    )


def _conv_matmul(
    op: Op, ctx: Context, weights: np.ndarray, bias: np.ndarray | None, comment: str
) -> Lowered:
    """CONV_2D (groups 1) with filter ``(oc, kh, kw, ic)`` through ``tl_conv_s8``."""
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    w = ctx.t(op.inputs[1])
    n, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = weights.shape[1], weights.shape[2]
    sh, sw, dh, dw, pad_h, pad_w = conv_geometry(op, ih, iw, kh, kw, oh, ow)
    wscale = w.scale if w.scale.size == oc else np.full(oc, w.scale[0], dtype=np.float32)
    mult, shift = qm.conv_multipliers(scale(x), wscale, scale(y))
    act_min, act_max = act_range(op, y)
    w2d = weights.reshape(oc, -1)
    folded = packing.fold_bias(bias, w2d, -zero_point(x))
    rq = qm.fast_requant_table(mult, shift, zero_point(y), packing.acc_bound(folded, w2d, 128))
    if rq is None or not _fits_int32(folded):
        return _ref_conv(op, ctx, "tl_conv_ref_s8", weights, bias, kh, kw, ic, 1, " (ref)")
    packed, k4 = packing.pack_rows_int16(w2d)
    params = {
        "batches": n, "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow,
        "out_c": oc, "filter_h": kh, "filter_w": kw, "stride_h": sh, "stride_w": sw,
        "dilation_h": dh, "dilation_w": dw, "pad_h": pad_h, "pad_w": pad_w, "k4": k4,
        "pad_value": zero_point(x), "act_min": act_min, "act_max": act_max, "reverse": REVERSE,
    }  # fmt: skip
    name = f"op{op.index}"
    decls = [
        c_struct("tl_conv_params_t", f"{name}_params", params, comment),
        c_words(f"{name}_filter", packed),
        c_array("int32_t", f"{name}_bias", packing.pad_to(folded, packing.round_up(oc, 2)), 8),
        c_array("int32_t", f"{name}_rq", rq, 8),
    ]
    call = (
        f"tl_conv_s8(&{name}_params, {ctx.ptr(x.index)}, {name}_filter, {name}_bias, "
        f"{name}_rq, {ctx.ptr(y.index)}, {SCRATCH});"
    )
    pointwise = (kh, kw, sh, sw, pad_h, pad_w, ih, iw) == (1, 1, 1, 1, 0, 0, oh, ow) and ic % 4 == 0
    if pointwise:
        fwd, bwd = pixel_pair_overlap(n * oh * ow, ic, oc)
    else:
        fwd, bwd = spatial_overlap(
            x.shape, y.shape, sh, pad_h, (kh - 1) * dh + 1, (sw, pad_w, (kw - 1) * dw + 1)
        )
    rows = RowKernel(
        "tl_conv_s8", "tl_conv_params_t", f"{name}_params",
        f"{name}_filter, {name}_bias, {name}_rq", True,
        ih, iw * ic, oh, ow * oc, sh, pad_h, (kh - 1) * dh + 1,
    ) if n == 1 else None  # fmt: skip
    return Lowered(
        "tl_conv_s8", decls, call, scratch_bytes=6 * k4,
        overlaps=[Overlap(x.index, y.index, fwd, bwd)], rows=rows,
    )  # fmt: skip


def _checked(op: Op, ctx: Context):
    x, w, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    for t, role in ((x, "input"), (w, "filter"), (y, "output")):
        check_int8(op, t, role)
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise UnsupportedOpError(op, "only 4-D NHWC tensors are supported")
    if np.any(w.zero_point != 0):
        raise UnsupportedOpError(op, "filter zero point must be 0 (symmetric int8 weights)")
    return x, w, y


def _comment(op: Op) -> str:
    comment = f"node {op.index}: {op.opcode}"
    if "fused_pad_node" in op.options:
        comment += f" (PAD node {op.options['fused_pad_node']} folded in as padding)"
    return comment


def lower_conv2d(op: Op, ctx: Context) -> Lowered:
    x, w, y = _checked(op, ctx)
    ic, oc, filter_c = x.shape[3], y.shape[3], w.shape[3]
    if w.shape[0] != oc or ic % filter_c or oc % (ic // filter_c):
        raise UnsupportedOpError(op, f"filter {w.shape} does not match {ic}->{oc} channels")
    weights = const_data(op, w, "filter")
    bias = bias_data(op, ctx, oc)
    if filter_c == ic:
        return _conv_matmul(op, ctx, weights, bias, _comment(op))
    # grouped convolution: TFLM's loop
    kh, kw = w.shape[1], w.shape[2]
    return _ref_conv(op, ctx, "tl_conv_ref_s8", weights, bias, kh, kw, filter_c, 1, " (grouped)")


def lower_depthwise(op: Op, ctx: Context) -> Lowered:
    x, w, y = _checked(op, ctx)
    n, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = w.shape[1], w.shape[2]
    dm = oc // ic
    if dm * ic != oc or w.shape[3] != oc or (op.options.get("depth_multiplier") or dm) != dm:
        raise UnsupportedOpError(op, f"depth multiplier: {ic} in, {oc} out, filter {w.shape}")
    weights = const_data(op, w, "filter")[0]  # (kh, kw, oc)
    bias = bias_data(op, ctx, oc)
    if ic == 1:
        # one input channel: every output channel is an ordinary convolution of it
        return _conv_matmul(
            op, ctx, weights.transpose(2, 0, 1)[..., None], bias,
            _comment(op) + " (1 input channel: as CONV_2D)",
        )  # fmt: skip
    sh, sw, dh, dw, pad_h, pad_w = conv_geometry(op, ih, iw, kh, kw, oh, ow)
    wscale = w.scale if w.scale.size == oc else np.full(oc, w.scale[0], dtype=np.float32)
    mult, shift = qm.conv_multipliers(scale(x), wscale, scale(y))
    act_min, act_max = act_range(op, y)
    b = np.zeros(oc, np.int64) if bias is None else bias.astype(np.int64)
    bound = packing.acc_bound(b, weights.reshape(-1, oc).T, 255)
    rq = qm.fast_requant_table(mult, shift, zero_point(y), bound)
    if rq is None:
        return _ref_conv(op, ctx, "tl_depthwise_ref_s8", weights, bias, kh, kw, 1, dm, " (ref)")
    c4 = packing.round_up(oc, 4)
    params = {
        "batches": n, "in_h": ih, "in_w": iw, "channels": ic, "out_h": oh, "out_w": ow,
        "filter_h": kh, "filter_w": kw, "stride_h": sh, "stride_w": sw,
        "dilation_h": dh, "dilation_w": dw, "pad_h": pad_h, "pad_w": pad_w,
        "depth_multiplier": dm, "input_offset": -zero_point(x), "act_min": act_min,
        "act_max": act_max, "reverse": REVERSE,
    }  # fmt: skip
    name = f"op{op.index}"
    decls = [
        c_struct("tl_dw_params_t", f"{name}_params", params, _comment(op)),
        c_words(f"{name}_filter", packing.pack_depthwise(weights)),
        c_array("int32_t", f"{name}_bias", packing.pad_to(b, c4), 8),
        c_array("int32_t", f"{name}_rq", packing.pad_to(rq, c4), 8),
    ]
    call = (
        f"tl_depthwise_s8(&{name}_params, {ctx.ptr(x.index)}, {name}_filter, {name}_bias, "
        f"{name}_rq, {ctx.ptr(y.index)});"
    )
    fwd, bwd = spatial_overlap(
        x.shape, y.shape, sh, pad_h, (kh - 1) * dh + 1, (sw, pad_w, (kw - 1) * dw + 1)
    )
    rows = RowKernel(
        "tl_depthwise_s8", "tl_dw_params_t", f"{name}_params",
        f"{name}_filter, {name}_bias, {name}_rq", False,
        ih, iw * ic, oh, ow * oc, sh, pad_h, (kh - 1) * dh + 1,
    ) if n == 1 else None  # fmt: skip
    return Lowered(
        "tl_depthwise_s8", decls, call, overlaps=[Overlap(x.index, y.index, fwd, bwd)], rows=rows
    )


def lower_fully_connected(op: Op, ctx: Context) -> Lowered:
    x, w, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    for t, role in ((x, "input"), (w, "filter"), (y, "output")):
        check_int8(op, t, role)
    if len(w.shape) != 2:
        raise UnsupportedOpError(op, f"filter shape {w.shape}, need 2-D")
    out_depth, accum = w.shape
    if x.n_elements % accum or y.n_elements != x.n_elements // accum * out_depth:
        raise UnsupportedOpError(op, f"input {x.shape} does not match filter {w.shape}")
    batches = x.n_elements // accum
    per_channel = w.scale.size > 1
    if per_channel:
        mult, shift = qm.conv_multipliers(scale(x), w.scale, scale(y))
        if np.any(w.zero_point != 0):
            raise UnsupportedOpError(op, "per-channel filter zero point must be 0")
    else:
        m, s = qm.fc_multiplier(scale(x), float(w.scale[0]), scale(y))
        mult, shift = [m], [s]
    weights = const_data(op, w, "filter")
    bias = bias_data(op, ctx, out_depth)
    act_min, act_max = act_range(op, y)
    name = f"op{op.index}"
    comment = f"node {op.index}: FULLY_CONNECTED"
    folded = packing.fold_bias(bias, weights, -zero_point(x))
    rq = None
    if zero_point(w) == 0 or per_channel:
        rq = qm.fast_requant_table(
            mult, shift, zero_point(y), packing.acc_bound(folded, weights, 128)
        )
    if rq is None or not _fits_int32(folded):
        params = {
            "batches": batches, "accum_depth": accum, "output_depth": out_depth,
            "input_offset": -zero_point(x), "filter_offset": 0 if per_channel else -zero_point(w),
            "output_offset": zero_point(y), "act_min": act_min, "act_max": act_max,
            "per_channel": int(per_channel),
        }  # fmt: skip
        decls = [
            c_struct("tl_fc_ref_params_t", f"{name}_params", params, comment + " (ref)"),
            c_array("int8_t", f"{name}_filter", weights, 16),
            c_array("int32_t", f"{name}_mult", mult, 8),
            c_array("int32_t", f"{name}_shift", shift, 16),
        ]
        bias_ref = "NULL"
        if bias is not None:
            decls.append(c_array("int32_t", f"{name}_bias", bias, 8))
            bias_ref = f"{name}_bias"
        call = (
            f"tl_fully_connected_ref_s8(&{name}_params, {ctx.ptr(x.index)}, {name}_filter, "
            f"{bias_ref}, {name}_mult, {name}_shift, {ctx.ptr(y.index)});"
        )
        return Lowered("tl_fully_connected_ref_s8", decls, call)
    packed, k4 = packing.pack_rows(weights, 4)
    params = {
        "batches": batches, "accum_depth": accum, "k4": k4, "output_depth": out_depth,
        "act_min": act_min, "act_max": act_max, "per_channel": int(per_channel),
    }  # fmt: skip
    decls = [
        c_struct("tl_fc_params_t", f"{name}_params", params, comment),
        c_words(f"{name}_filter", packed),
        c_array(
            "int32_t", f"{name}_bias", packing.pad_to(folded, packing.round_up(out_depth, 4)), 8
        ),
        c_array("int32_t", f"{name}_rq", packing.pad_to(rq, packing.round_up(len(rq), 4)), 8),
    ]
    call = (
        f"tl_fully_connected_s8(&{name}_params, {ctx.ptr(x.index)}, {name}_filter, "
        f"{name}_bias, {name}_rq, {ctx.ptr(y.index)});"
    )
    return Lowered("tl_fully_connected_s8", decls, call)


def lower_transpose_conv(op: Op, ctx: Context) -> Lowered:
    # inputs: output shape, weights [oc, kh, kw, ic], input, (bias)
    w, x, y = ctx.t(op.inputs[1]), ctx.t(op.inputs[2]), ctx.t(op.outputs[0])
    for t, role in ((x, "input"), (w, "filter"), (y, "output")):
        check_int8(op, t, role)
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise UnsupportedOpError(op, "only 4-D NHWC tensors are supported")
    if np.any(w.zero_point != 0):
        raise UnsupportedOpError(op, "filter zero point must be 0 (symmetric int8 weights)")
    n, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = w.shape[1], w.shape[2]
    if w.shape[0] != oc or w.shape[3] != ic:
        raise UnsupportedOpError(op, f"filter {w.shape} does not match {ic}->{oc} channels")
    o = op.options
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)

    def pad(size_out: int, k: int, s: int) -> int:
        # TFLM pads as the forward convolution that maps the output back to the input
        fwd = (size_out + s - 1) // s if o.get("padding") == "SAME" else (size_out - k + s) // s
        return max((fwd - 1) * s + k - size_out, 0) // 2

    wscale = w.scale if w.scale.size == oc else np.full(oc, w.scale[0], dtype=np.float32)
    mult, shift = qm.conv_multipliers(scale(x), wscale, scale(y))
    act_min, act_max = act_range(op, y)
    params = {
        "batches": n, "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow,
        "out_c": oc, "filter_h": kh, "filter_w": kw, "filter_c": ic,
        "stride_h": sh, "stride_w": sw, "dilation_h": 1, "dilation_w": 1,
        "pad_h": pad(oh, kh, sh), "pad_w": pad(ow, kw, sw), "depth_multiplier": 1,
        "input_offset": -zero_point(x), "output_offset": zero_point(y),
        "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    bias = bias_data(op, ctx, oc, index=3)
    weights = const_data(op, w, "filter")
    b = np.zeros(oc, np.int64) if bias is None else bias.astype(np.int64)
    rq = qm.fast_requant_table(
        mult, shift, zero_point(y), packing.acc_bound(b, weights.reshape(oc, -1), 255)
    )
    low = _ref_call(
        op, ctx, "tl_transpose_conv_s8", params, weights, bias, mult, shift,
        f"node {op.index}: TRANSPOSE_CONV (as a gather)",
    )  # fmt: skip
    name = f"op{op.index}"
    rq_ref = "NULL"
    if rq is not None:
        low.decls.append(c_array("int32_t", f"{name}_rq", rq, 8))
        rq_ref = f"{name}_rq"
    low.call = low.call.replace(f"{name}_shift, ", f"{name}_shift, {rq_ref}, ")
    return low
