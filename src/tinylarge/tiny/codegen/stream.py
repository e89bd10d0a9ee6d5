"""Row-streamed stages: run two spatial ops together so the tensor between them never exists.

MCUNetV2 (Lin et al., NeurIPS 2021) computes the memory-heavy first stages of a CNN patch by
patch, so the large early activations are never whole in memory. This is the same idea with
patches that are bands of rows, taken in order: to produce output row ``y`` of the consumer Q
(a convolution, depthwise convolution or pooling) only the producer P's output rows
``[y*s - pad, y*s - pad + k)`` are needed. They are kept in a window of at most ``k`` rows; rows
that are no longer needed slide out, new ones are computed by running P on one output row at a
time. Unlike 2-D patches with overlapping halos, nothing is computed twice (every P row once),
so the cost is only the per-row call overhead.

A pair is streamed when P's output is read by Q alone and the whole plan's peak goes down.
Reference: J. Lin et al., "MCUNetV2: Memory-Efficient Patch-based Inference for Tiny Deep
Learning", NeurIPS 2021.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tinylarge.tiny.codegen.lower_common import SCRATCH, Context, Lowered, RowKernel
from tinylarge.tiny.graph import Graph, Op

ALIGN = 4


def _call(rk: RowKernel, params: str, inp: str, out: str, scratch: str) -> str:
    args = [f"&{params}", inp, *([rk.const_args] if rk.const_args else []), out]
    if rk.has_scratch:
        args.append(scratch)
    return f"{rk.kernel}({', '.join(args)});"


def stage_lowered(p_op: Op, p: Lowered, q_op: Op, q: Lowered, ctx: Context) -> Lowered:
    """One Lowered running P and Q row by row (see the module doc)."""
    rp, rq = p.rows, q.rows
    assert rp is not None and rq is not None
    window = rq.eff_kernel * rp.out_row_bytes
    window_al = -(-window // ALIGN) * ALIGN
    x, y = ctx.ptr(p_op.inputs[0]), ctx.ptr(q_op.outputs[0])
    call = f"""{{
        /* nodes {p_op.index} and {q_op.index} streamed by rows: node {q_op.index}'s input lives in a
         * window of {rq.eff_kernel} rows of {rp.out_row_bytes} bytes, each computed once */
        int8_t *const win = (int8_t *){SCRATCH};
        void *const kscratch = (void *)(win + {window_al});
        int32_t y, lo = 0, next = 0;
        for (y = 0; y < {rq.out_h}; ++y) {{
            const int32_t first = y * {rq.stride} - {rq.pad};
            const int32_t need_lo = first > 0 ? first : 0;
            const int32_t need_hi = first + {rq.eff_kernel} < {rp.out_h} ? first + {rq.eff_kernel} : {rp.out_h};
            if (need_lo > lo) {{
                const int32_t kept = next > need_lo ? next - need_lo : 0;
                memmove(win, win + (need_lo - lo) * {rp.out_row_bytes}, (size_t)kept * {rp.out_row_bytes});
                lo = need_lo;
                if (next < lo) next = lo;
            }}
            for (; next < need_hi; ++next) {{
                {rp.params_type} pr = {rp.params_name};
                const int32_t top = next * {rp.stride} - {rp.pad};
                const int32_t s = top > 0 ? top : 0;
                const int32_t e = top + {rp.eff_kernel} < {rp.in_h} ? top + {rp.eff_kernel} : {rp.in_h};
                pr.in_h = e - s;
                pr.out_h = 1;
                pr.pad_h = {rp.pad} - next * {rp.stride} + s;
                {_call(rp, "pr", f"{x} + (size_t)s * {rp.in_row_bytes}", f"win + (size_t)(next - lo) * {rp.out_row_bytes}", "kscratch")}
            }}
            {{
                {rq.params_type} qr = {rq.params_name};
                qr.in_h = need_hi - need_lo;
                qr.out_h = 1;
                qr.pad_h = {rq.pad} - y * {rq.stride} + need_lo;
                {_call(rq, "qr", "win", f"{y} + (size_t)y * {rq.out_row_bytes}", "kscratch")}
            }}
        }}
    }}"""  # noqa: E501
    return Lowered(
        kernel=f"{p.kernel}+{q.kernel}",
        decls=[*p.decls, *q.decls],
        call=call,
        scratch_bytes=window_al + max(p.scratch_bytes, q.scratch_bytes),
    )


def candidates(graph: Graph, ops: list[Op], lowered: list[Lowered], keep: set[int]) -> list[int]:
    """Positions i where ops[i] (P) feeds only ops[i+1] (Q) and both run by rows."""
    out = []
    for i in range(len(ops) - 1):
        p_op, q_op = ops[i], ops[i + 1]
        p, q = lowered[i], lowered[i + 1]
        if p.rows is None or q.rows is None or len(p_op.outputs) != 1:
            continue
        t = p_op.outputs[0]
        if t in keep or q_op.inputs[0] != t:
            continue
        if any(t in op.inputs for j, op in enumerate(ops) if j != i + 1):
            continue
        if p.rows.out_row_bytes != q.rows.in_row_bytes or p.rows.out_h != q.rows.in_h:
            continue
        out.append(i)
    return out


def stream_stages(
    graph: Graph,
    ops: list[Op],
    lowered: list[Lowered],
    keep: set[int],
    arena_of: Callable[[list[Op], list[Lowered]], int],
) -> tuple[list[Op], list[Lowered], list[int]]:
    """Stream every candidate pair that lowers the planned peak (``arena_of``), one at a time
    from the front; returns the new op list, lowerings and the streamed producer nodes."""
    ctx = Context(graph=graph)
    best = arena_of(ops, lowered)
    streamed: list[int] = []
    i = 0
    while True:
        cands = [c for c in candidates(graph, ops, lowered, keep) if c >= i]
        if not cands:
            return ops, lowered, streamed
        c = cands[0]
        p_op, q_op = ops[c], ops[c + 1]
        stage_op = dataclasses.replace(
            q_op,
            opcode=f"{p_op.opcode}+{q_op.opcode}",
            inputs=[*p_op.inputs, *q_op.inputs[1:]],
            options={**q_op.options, "streamed_node": p_op.index},
        )
        low = stage_lowered(p_op, lowered[c], q_op, lowered[c + 1], ctx)
        ops2 = [*ops[:c], stage_op, *ops[c + 2 :]]
        low2 = [*lowered[:c], low, *lowered[c + 2 :]]
        arena = arena_of(ops2, low2)
        if arena < best:
            ops, lowered, best = ops2, low2, arena
            streamed.append(p_op.index)
        i = c + 1
