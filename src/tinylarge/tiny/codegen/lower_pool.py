"""Lowering of pooling and MEAN (TFLM reference pooling.h; reduce.h for MEAN)."""

from __future__ import annotations

import numpy as np

from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.lower_common import (
    REVERSE,
    Context,
    Lowered,
    Overlap,
    RowKernel,
    UnsupportedOpError,
    act_range,
    c_struct,
    check_int8,
    const_data,
    same_padding,
    scale,
    spatial_overlap,
    zero_point,
)
from tinylarge.tiny.graph import Op


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
    pad_h = same_padding(op, sh, 1, ih, fh, oh)
    pad_w = same_padding(op, sw, 1, iw, fw, ow)
    params = {
        "batches": n, "in_h": ih, "in_w": iw, "channels": c, "out_h": oh, "out_w": ow,
        "filter_h": fh, "filter_w": fw, "stride_h": sh, "stride_w": sw,
        "pad_h": pad_h, "pad_w": pad_w,
        "act_min": act_min, "act_max": act_max, "reverse": REVERSE,
    }  # fmt: skip
    name = f"op{op.index}"
    decls = [
        c_struct("tl_pool_params_t", f"{name}_params", params, f"node {op.index}: {op.opcode}")
    ]
    call = f"{kernel}(&{name}_params, {ctx.ptr(x.index)}, {ctx.ptr(y.index)});"
    fwd, bwd = spatial_overlap(x.shape, y.shape, sh, pad_h, fh, (sw, pad_w, fw))
    rows = RowKernel(
        kernel, "tl_pool_params_t", f"{name}_params", "", False,
        ih, iw * c, oh, ow * c, sh, pad_h, fh,
    ) if n == 1 else None  # fmt: skip
    return Lowered(kernel, decls, call, overlaps=[Overlap(x.index, y.index, fwd, bwd)], rows=rows)


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
    name = f"op{op.index}"
    decls = [c_struct("tl_mean_params_t", f"{name}_params", params, f"node {op.index}: MEAN")]
    call = f"tl_mean_s8(&{name}_params, {ctx.ptr(x.index)}, {ctx.ptr(y.index)});"
    # output i of block o is written after its last read and before any later read of a byte
    # at or below it, so it may start at (or before) the input
    return Lowered("tl_mean_s8", decls, call, overlaps=[Overlap(x.index, y.index, 0, None)])
