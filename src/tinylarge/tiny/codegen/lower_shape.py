"""Lowering of data-movement ops: views (RESHAPE, SQUEEZE, EXPAND_DIMS), PAD/PADV2,
CONCATENATION, strided views (STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, TRANSPOSE) and
RESIZE_NEAREST_NEIGHBOR. Bytes move unchanged; TFLM's index arithmetic (strided_slice.h,
resize_nearest_neighbor.h, pad.h, concatenation.h) is evaluated here, ahead of time.
"""

from __future__ import annotations

import math

import numpy as np

from tinylarge.tiny.codegen.lower_common import (
    Context,
    Lowered,
    UnsupportedOpError,
    c_array,
    c_struct,
    check_int8,
    const_data,
    scale,
    zero_point,
)
from tinylarge.tiny.graph import Op, Tensor


def lower_view(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    if x.size_bytes != y.size_bytes or x.dtype != y.dtype:
        raise UnsupportedOpError(op, f"{x.shape} {x.dtype} -> {y.shape} {y.dtype} changes bytes")
    return Lowered(
        "(view)", [], f"/* node {op.index}: {op.opcode} is a view, no copy */", view=True
    )


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
    name = f"op{op.index}"
    decls = [c_struct("tl_pad_params_t", f"{name}_params", params, f"node {op.index}: {op.opcode}")]
    call = f"tl_pad_s8(&{name}_params, {ctx.ptr(x.index)}, {ctx.ptr(y.index)});"
    return Lowered("tl_pad_s8", decls, call)


def lower_concat(op: Op, ctx: Context) -> Lowered:
    y = ctx.t(op.outputs[0])
    xs = [ctx.t(i) for i in op.inputs]
    for t in [*xs, y]:
        check_int8(op, t, "input/output")
        if np.float32(scale(t)) != np.float32(scale(y)) or zero_point(t) != zero_point(y):
            raise UnsupportedOpError(op, "inputs with a quantization different from the output")
    if op.options.get("fused_activation", "NONE") != "NONE":
        raise UnsupportedOpError(op, "fused activation on CONCATENATION")
    axis = int(op.options.get("axis", 0)) % len(y.shape)
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    sizes = [t.n_elements // outer for t in xs]
    name = f"op{op.index}"
    decls = [c_array("int32_t", f"{name}_sizes", sizes, 16)]
    for k, t in enumerate(xs):
        if t.data is not None:
            decls.append(c_array("int8_t", f"{name}_const{k}", t.data, 16))
    ins = ", ".join(
        f"{name}_const{k}" if t.data is not None else ctx.ptr(t.index) for k, t in enumerate(xs)
    )
    call = (
        f"{{\n        const int8_t *const ins[{len(xs)}] = {{{ins}}};\n"
        f"        tl_concat_s8({len(xs)}, ins, {name}_sizes, {outer}, {ctx.ptr(y.index)});\n    }}"
    )
    return Lowered("tl_concat_s8", decls, call)


def _strides(shape: tuple[int, ...]) -> list[int]:
    out, acc = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        out[d] = acc
        acc *= shape[d]
    return out


def _gather(op: Op, name: str, counts: list[int], steps: list[int], offset: int) -> dict:
    """Params of tl_gather_s8 with unit dims dropped (fewer loop levels)."""
    keep = [(c, s) for c, s in zip(counts, steps, strict=True) if c != 1] or [(1, 1)]
    if len(keep) > 6:
        raise UnsupportedOpError(op, f"{len(keep)} dimensions; at most 6")
    pad = 6 - len(keep)
    return {
        "n_dims": len(keep),
        "count": [c for c, _ in keep] + [1] * pad,
        "stride": [s for _, s in keep] + [0] * pad,
        "offset": offset,
    }


def _gather_lowered(op: Op, ctx: Context, x: Tensor, parts: list[tuple[int, dict]]) -> Lowered:
    name = f"op{op.index}"
    decls, calls = [], []
    for k, (out_index, params) in enumerate(parts):
        pname = f"{name}_view{k}"
        decls.append(c_struct("tl_gather_params_t", pname, params, f"node {op.index}: {op.opcode}"))
        calls.append(f"tl_gather_s8(&{pname}, {ctx.ptr(x.index)}, {ctx.ptr(out_index)});")
    return Lowered("tl_gather_s8", decls, "\n    ".join(calls))


def _slice_parts(op: Op, x: Tensor, starts: list[int], steps: list[int], counts: list[int]) -> dict:
    st = _strides(x.shape)
    offset = sum(s * k for s, k in zip(starts, st, strict=True))
    return _gather(op, "", counts, [a * b for a, b in zip(steps, st, strict=True)], offset)


def lower_strided_slice(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    o = op.options
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0) or o.get("offset", False):
        raise UnsupportedOpError(op, "ellipsis_mask, new_axis_mask and offset are not supported")
    begin, end, strides = (
        const_data(op, ctx.t(op.inputs[i]), role).reshape(-1).astype(np.int64).tolist()
        for i, role in ((1, "begin"), (2, "end"), (3, "strides"))
    )
    starts, steps, counts = [], [], []
    for d, dim in enumerate(x.shape):
        bit = 1 << d
        step = strides[d]
        if step == 0:
            raise UnsupportedOpError(op, "stride 0")
        if o.get("shrink_axis_mask", 0) & bit:
            b = begin[d] + dim if begin[d] < 0 else begin[d]
            idx = [b] if 0 <= b < dim else []
        else:
            b = None if o.get("begin_mask", 0) & bit else begin[d]
            e = None if o.get("end_mask", 0) & bit else end[d]
            idx = list(range(dim)[slice(b, e, step)])
        starts.append(idx[0] if idx else 0)
        steps.append(step)
        counts.append(len(idx))
    if math.prod(counts) != y.n_elements:
        raise UnsupportedOpError(
            op, f"slice of {x.shape} has {math.prod(counts)} elements, output {y.shape}"
        )
    return _gather_lowered(op, ctx, x, [(y.index, _slice_parts(op, x, starts, steps, counts))])


def lower_slice(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    begin = const_data(op, ctx.t(op.inputs[1]), "begin").reshape(-1).astype(np.int64).tolist()
    size = const_data(op, ctx.t(op.inputs[2]), "size").reshape(-1).astype(np.int64).tolist()
    counts = [dim - b if s < 0 else s for dim, b, s in zip(x.shape, begin, size, strict=True)]
    if math.prod(counts) != y.n_elements:
        raise UnsupportedOpError(op, f"slice sizes {counts} do not match output {y.shape}")
    return _gather_lowered(
        op, ctx, x, [(y.index, _slice_parts(op, x, begin, [1] * len(begin), counts))]
    )


def lower_split(op: Op, ctx: Context) -> Lowered:
    if op.opcode == "SPLIT":  # inputs: axis, x
        axis_t, x = ctx.t(op.inputs[0]), ctx.t(op.inputs[1])
    else:  # SPLIT_V: x, size_splits, axis
        x, axis_t = ctx.t(op.inputs[0]), ctx.t(op.inputs[2])
    check_int8(op, x, "input")
    axis = int(const_data(op, axis_t, "axis").reshape(-1)[0]) % len(x.shape)
    parts, start = [], 0
    for out in op.outputs:
        y = ctx.t(out)
        size = y.shape[axis]
        starts = [start if d == axis else 0 for d in range(len(x.shape))]
        counts = [size if d == axis else x.shape[d] for d in range(len(x.shape))]
        parts.append((out, _slice_parts(op, x, starts, [1] * len(starts), counts)))
        start += size
    if start != x.shape[axis]:
        raise UnsupportedOpError(op, f"outputs cover {start} of {x.shape[axis]} along axis {axis}")
    return _gather_lowered(op, ctx, x, parts)


def lower_transpose(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    perm = [int(p) % len(x.shape) for p in const_data(op, ctx.t(op.inputs[1]), "perm").reshape(-1)]
    if sorted(perm) != list(range(len(x.shape))):
        raise UnsupportedOpError(op, f"perm {perm} is not a permutation")
    st = _strides(x.shape)
    params = _gather(op, "", [x.shape[p] for p in perm], [st[p] for p in perm], 0)
    return _gather_lowered(op, ctx, x, [(y.index, params)])


def _nearest_index(out_size: int, in_size: int, align: bool, half: bool) -> list[int]:
    """TFLM GetNearestNeighbor for every output coordinate, in float32 like the C++."""
    f = np.float32
    sc = f(in_size - 1) / f(out_size - 1) if align and out_size > 1 else f(in_size) / f(out_size)
    offset = f(0.5) if half else f(0.0)
    out = []
    for i in range(out_size):
        v = f(f(i) + offset) * sc
        if align:
            value = int(math.floor(float(v) + 0.5)) if v >= 0 else -int(math.floor(-float(v) + 0.5))
        else:
            value = math.floor(float(v))
        value = min(value, in_size - 1)
        out.append(max(0, value) if half else value)
    return out


def lower_resize_nearest(op: Op, ctx: Context) -> Lowered:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    check_int8(op, x, "input")
    if len(x.shape) != 4:
        raise UnsupportedOpError(op, "only 4-D NHWC input is supported")
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    align = bool(op.options.get("align_corners", False))
    half = bool(op.options.get("half_pixel_centers", False))
    name = f"op{op.index}"
    decls = [
        f"/* node {op.index}: RESIZE_NEAREST_NEIGHBOR source rows/columns */",
        c_array("int16_t", f"{name}_ys", _nearest_index(oh, ih, align, half), 16),
        c_array("int16_t", f"{name}_xs", _nearest_index(ow, iw, align, half), 16),
    ]
    call = (
        f"tl_resize_nearest_s8({n}, {ih}, {iw}, {c}, {oh}, {ow}, {name}_ys, {name}_xs, "
        f"{ctx.ptr(x.index)}, {ctx.ptr(y.index)});"
    )
    return Lowered("tl_resize_nearest_s8", decls, call)
