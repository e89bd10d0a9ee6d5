"""Static memory planner: every tensor, the model's input and output included, and every kernel
scratch buffer gets an offset in one arena, chosen ahead of time.

Algorithm (a heuristic, like TFLM's GreedyMemoryPlanner, which it extends):

1. Aliasing. The output of a view op (RESHAPE, SQUEEZE, EXPAND_DIMS) is its input's bytes:
   the two tensors become one buffer whose lifetime is the union.
2. Lifetimes. A buffer lives from the op that produces it to the last op that reads it; the
   model input from op 0, the model output to the end; a scratch buffer during its op only.
3. Overlap rules. Two buffers alive at the same op normally may not share bytes. The exception is
   an op's output and an input that dies at that op: the kernel's rule (``lower_common.Overlap``)
   says which relative offsets are safe because every input byte is read before the output bytes
   written over it -- first to last (``rel <= fwd``) or, with the kernel run backwards, last to
   first (``rel >= bwd``). Elementwise ops may run fully in place; a convolution's output may
   start a few rows before its input (vMCU-style segment overlap; TinyEngine's in-place
   depthwise is a special case).
4. Placement. Buffers are placed one at a time at the lowest offset outside every interval their
   placed neighbours forbid (first fit). Several orders are tried -- size descending (TFLM's
   order), lifetime start, lifetime length, size x length, plus seeded random orders -- and the
   smallest peak wins. The direction of each overlapping op follows from the offsets.

References: TFLM ``tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc``; Pisarchyk &
Lee, "Efficient Memory Management for Deep Neural Net Inference" (2020); Lin et al., "MCUNet" /
TinyEngine in-place depthwise (NeurIPS 2020); Zheng et al., "vMCU: Coordinated Memory Management
and Kernel Optimization for DNN Inference on MCUs" (MLSys 2024).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tinylarge.tiny.codegen.lower_common import Overlap


@dataclass
class Buffer:
    """One region of the arena: a group of aliased tensors, or an op's scratch."""

    key: str
    tensors: list[int]
    size_bytes: int
    first_op: int
    last_op: int
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first_op <= other.last_op and other.first_op <= self.last_op


@dataclass(frozen=True)
class OpMemory:
    """What the planner needs about one op (activation tensors only, constants removed)."""

    inputs: Sequence[int]
    outputs: Sequence[int]
    view: bool = False
    scratch_bytes: int = 0
    overlaps: Sequence[Overlap] = ()


@dataclass
class MemoryPlan:
    """Offsets of tensors and scratch buffers, and the direction each op runs in."""

    buffers: list[Buffer]
    arena_bytes: int
    order: str
    location: dict[int, int] = field(default_factory=dict)
    scratch: dict[int, int] = field(default_factory=dict)  # op position -> offset
    reverse: dict[int, bool] = field(default_factory=dict)  # op position -> run backwards
    n_overlapping: int = 0

    def report_rows(self) -> list[list[object]]:
        """(tensors, kind, offset, bytes, ops) per buffer, by offset: kind is "tensor" or
        "scratch" (an op's kernel buffer)."""
        rows = []
        for b in sorted(self.buffers, key=lambda b: (b.offset, b.first_op)):
            tensors = ",".join(map(str, b.tensors)) or "-"
            kind = "scratch" if b.key.startswith("s") else "tensor"
            rows.append([tensors, kind, b.offset, b.size_bytes, f"{b.first_op}..{b.last_op}"])
        return rows


def _align(x: int, alignment: int) -> int:
    return (x + alignment - 1) // alignment * alignment


# (fwd, bwd, exact) allowed offset relations between an output buffer and an input buffer
Rule = tuple[int | None, int | None, bool]


def _forbidden(out: Buffer, inp: Buffer, rule: Rule | None) -> list[tuple[int, int]]:
    """Open intervals of ``rel = off(out) - off(inp)`` that are not allowed."""
    lo, hi = -out.size_bytes, inp.size_bytes  # the bytes overlap iff lo < rel < hi
    if rule is None:
        return [(lo, hi)]
    fwd, bwd, exact = rule
    if exact:  # only exactly in place
        return [iv for iv in ((lo, 0), (0, hi)) if iv[0] < iv[1]]
    if fwd is not None:
        lo = max(lo, fwd)
    if bwd is not None:
        hi = min(hi, bwd)
    return [(lo, hi)] if lo < hi else []


def place_buffers(
    buffers: Sequence[Buffer],
    key: Callable[[Buffer], object],
    rules: dict[tuple[str, str], Rule],
    alignment: int = 4,
) -> int:
    """Assign ``offset`` to each buffer in ``key`` order (first fit); return the peak."""
    placed: list[Buffer] = []
    peak = 0
    for buf in sorted(buffers, key=key):
        intervals: list[tuple[int, int]] = []
        for p in placed:
            if not p.overlaps_in_time(buf):
                continue
            if (buf.key, p.key) in rules:  # buf is the output, p the input
                for lo, hi in _forbidden(buf, p, rules[(buf.key, p.key)]):
                    intervals.append((p.offset + lo, p.offset + hi))
            elif (p.key, buf.key) in rules:  # p is the output, buf the input
                for lo, hi in _forbidden(p, buf, rules[(p.key, buf.key)]):
                    intervals.append((p.offset - hi, p.offset - lo))
            else:
                intervals.append((p.offset - buf.size_bytes, p.offset + p.size_bytes))
        offset = 0
        moved = True
        while moved:
            moved = False
            for lo, hi in intervals:
                if lo < offset < hi:
                    offset = _align(hi, alignment)
                    moved = True
        buf.offset = offset
        placed.append(buf)
        peak = max(peak, offset + buf.size_bytes)
    return peak


ORDERS: dict[str, Callable[[Buffer], object]] = {
    "size": lambda b: (-b.size_bytes, b.first_op),
    "start": lambda b: (b.first_op, -b.size_bytes),
    "duration": lambda b: (-(b.last_op - b.first_op), -b.size_bytes),
    "area": lambda b: (-b.size_bytes * (b.last_op - b.first_op + 1), b.first_op),
}


def plan_memory(
    ops: Sequence[OpMemory],
    sizes: dict[int, int],
    graph_inputs: Sequence[int],
    graph_outputs: Sequence[int],
    alignment: int = 4,
    overlap: bool = True,
    n_random_orders: int = 32,
) -> MemoryPlan:
    """Plan the tensors in ``sizes`` (tensor index -> bytes) for ``ops`` in execution order.

    ``overlap=False`` ignores the kernels' overlap rules (every live buffer gets its own bytes;
    views still alias): the plain greedy planner, for comparison.
    """
    parent = {t: t for t in sizes}

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for op in ops:
        if op.view and op.inputs and op.outputs:
            parent[find(op.outputs[0])] = find(op.inputs[0])
    n_ops = len(ops)
    first = {t: (0 if t in graph_inputs else n_ops) for t in sizes}
    last = {t: (n_ops if t in graph_outputs else -1) for t in sizes}
    for i, op in enumerate(ops):
        for t in [*op.inputs, *op.outputs]:
            first[t] = min(first[t], i)
            last[t] = max(last[t], i)
    groups: dict[int, list[int]] = {}
    for t in sizes:
        groups.setdefault(find(t), []).append(t)
    buffers: dict[int, Buffer] = {}
    for root, members in groups.items():
        buffers[root] = Buffer(
            key=f"t{root}",
            tensors=sorted(members),
            size_bytes=max(sizes[t] for t in members),
            first_op=min(first[t] for t in members),
            last_op=max(last[t] for t in members),
        )
    scratch = [
        Buffer(key=f"s{i}", tensors=[], size_bytes=op.scratch_bytes, first_op=i, last_op=i)
        for i, op in enumerate(ops)
        if op.scratch_bytes > 0
    ]
    rules: dict[tuple[str, str], Rule] = {}
    op_pairs: dict[int, list[tuple[Buffer, Buffer, Rule]]] = {}
    for i, op in enumerate(ops):
        for ov in op.overlaps if overlap else ():
            out_b, in_b = buffers[find(ov.output)], buffers[find(ov.input)]
            if out_b is in_b or in_b.last_op != i or out_b.first_op != i:
                continue  # the input lives on (or is a view of the output): no sharing
            rule: Rule = (ov.fwd, ov.bwd, ov.exact)
            pair = (out_b.key, in_b.key)
            if pair in rules and rules[pair] != rule:
                rule = (0, 0, True)
            rules[pair] = rule
            op_pairs.setdefault(i, []).append((out_b, in_b, rule))
    arena = [*buffers.values(), *scratch]
    orders = dict(ORDERS)
    rng = random.Random(0)  # a few seeded random orders: deterministic for a given graph
    for k in range(n_random_orders if len(arena) > 2 else 0):
        ranks = {b.key: rng.random() for b in arena}
        orders[f"random{k}"] = lambda b, ranks=ranks: ranks[b.key]
    best_name, best_peak, best_offsets = "", None, None
    for name, key in orders.items():
        peak = place_buffers(arena, key, rules, alignment)
        if best_peak is None or peak < best_peak:
            best_name, best_peak, best_offsets = name, peak, [b.offset for b in arena]
    for b, off in zip(arena, best_offsets or [], strict=True):
        b.offset = off
    plan = MemoryPlan(buffers=arena, arena_bytes=best_peak or 0, order=best_name)
    for b in buffers.values():
        for t in b.tensors:
            plan.location[t] = b.offset
    for b in scratch:
        plan.scratch[b.first_op] = b.offset
    for i in range(n_ops):
        plan.reverse[i] = False
        for out_b, in_b, (fwd, _bwd, _exact) in op_pairs.get(i, []):
            rel = out_b.offset - in_b.offset
            if -out_b.size_bytes < rel < in_b.size_bytes:
                plan.n_overlapping += 1
                if fwd is None or rel > fwd:
                    plan.reverse[i] = True
    return plan
