"""Static memory planner: every activation tensor gets an offset in one arena, chosen ahead of time.

Algorithm (a heuristic, like TFLM's GreedyMemoryPlanner, which it extends):

1. Lifetimes. A tensor lives from the op that produces it to the last op that reads it.
2. Aliasing. Tensors that may share bytes are merged into one buffer whose lifetime is the union:
   the output of a view op (RESHAPE, SQUEEZE, EXPAND_DIMS) always, and the output of an
   elementwise op (ADD, MUL, LOGISTIC, SOFTMAX, requantize) with an input of the same size that
   dies at that op (the kernels read element ``i`` before writing element ``i``).
3. Placement. Buffers are placed one at a time at the lowest offset that does not overlap any
   already-placed buffer alive at the same time (first fit into gaps). Several orders are tried --
   size descending (TFLM's order), lifetime start, lifetime length, size x length, plus 32
   seeded random orders -- and the smallest peak wins.

The model input and output are not in the arena: the generated code reads the caller's input
buffer and writes the caller's output buffer directly (``io_bytes`` reports them separately).

Reference: TFLM ``tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc``; Pisarchyk &
Lee, "Efficient Memory Management for Deep Neural Net Inference" (2020), greedy-by-size.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

VIEW_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
ELEMENTWISE_OPS = frozenset({"ADD", "MUL", "LOGISTIC", "SOFTMAX", "QUANTIZE", "RELU", "RELU6"})

INPUT = "input"
OUTPUT = "output"
ARENA = "arena"


@dataclass
class Buffer:
    """One region of memory shared by one or more tensors (aliases)."""

    tensors: list[int]
    size_bytes: int
    first_op: int
    last_op: int
    place: str = ARENA  # "arena", "input" (caller's input) or "output" (caller's output)
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first_op <= other.last_op and other.first_op <= self.last_op


@dataclass
class MemoryPlan:
    """Where each tensor lives: ``location[t] = (place, offset)``."""

    buffers: list[Buffer]
    arena_bytes: int
    io_bytes: int
    order: str
    location: dict[int, tuple[str, int]] = field(default_factory=dict)

    def report_rows(self) -> list[list[object]]:
        rows = []
        for b in sorted(self.buffers, key=lambda b: (b.place, b.offset, b.first_op)):
            rows.append(
                [
                    ",".join(str(t) for t in b.tensors),
                    b.place,
                    b.offset,
                    b.size_bytes,
                    f"{b.first_op}..{b.last_op}",
                ]
            )
        return rows


def _align(x: int, alignment: int) -> int:
    return (x + alignment - 1) // alignment * alignment


def place_buffers(
    buffers: Sequence[Buffer], key: Callable[[Buffer], object], alignment: int = 4
) -> int:
    """Assign ``offset`` to each arena buffer in ``key`` order (first fit); return the peak."""
    placed: list[Buffer] = []
    peak = 0
    for buf in sorted(buffers, key=key):
        live = sorted((p for p in placed if p.overlaps_in_time(buf)), key=lambda p: p.offset)
        offset = 0
        for p in live:
            if offset + buf.size_bytes <= p.offset:
                break  # fits in the gap before p
            offset = max(offset, _align(p.offset + p.size_bytes, alignment))
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
    n_ops: int,
    op_inputs: Sequence[Sequence[int]],
    op_outputs: Sequence[Sequence[int]],
    opcodes: Sequence[str],
    sizes: dict[int, int],
    graph_inputs: Sequence[int],
    graph_outputs: Sequence[int],
    alignment: int = 4,
    in_place: bool = True,
    n_random_orders: int = 32,
) -> MemoryPlan:
    """Plan the activation tensors in ``sizes`` (tensor index -> bytes) for ops in order.

    ``op_inputs``/``op_outputs`` hold only activation tensors (constants removed).
    """
    parent = {t: t for t in sizes}

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    first = {t: (-1 if t in graph_inputs else n_ops) for t in sizes}
    last = {t: (n_ops if t in graph_outputs else -1) for t in sizes}
    for i in range(n_ops):
        for t in op_outputs[i]:
            first[t] = min(first[t], i)
            last[t] = max(last[t], i)
        for t in op_inputs[i]:
            last[t] = max(last[t], i)
            first[t] = min(first[t], i)

    def place_of(root: int) -> set[str]:
        members = [t for t in sizes if find(t) == root]
        kinds = set()
        if any(t in graph_inputs for t in members):
            kinds.add(INPUT)
        if any(t in graph_outputs for t in members):
            kinds.add(OUTPUT)
        return kinds

    if in_place:
        for i in range(n_ops):
            if not op_outputs[i] or not op_inputs[i]:
                continue
            out = op_outputs[i][0]
            if opcodes[i] in VIEW_OPS:
                candidates = [op_inputs[i][0]]
            elif opcodes[i] in ELEMENTWISE_OPS:
                candidates = [t for t in op_inputs[i] if sizes[t] == sizes[out] and last[t] == i]
            else:
                continue
            for src in candidates:
                a, b = find(src), find(out)
                if a == b:
                    break
                kinds = place_of(a) | place_of(b)
                # The caller's input is read-only: only views may alias it. Input and output
                # buffers are distinct memory, so one group cannot hold both.
                if kinds == {INPUT, OUTPUT}:
                    continue
                if INPUT in kinds and opcodes[i] not in VIEW_OPS:
                    continue
                parent[b] = a
                break

    groups: dict[int, list[int]] = {}
    for t in sizes:
        groups.setdefault(find(t), []).append(t)
    buffers = []
    for members in groups.values():
        kinds = set()
        if any(t in graph_inputs for t in members):
            kinds.add(INPUT)
        if any(t in graph_outputs for t in members):
            kinds.add(OUTPUT)
        place = OUTPUT if OUTPUT in kinds else INPUT if INPUT in kinds else ARENA
        buffers.append(
            Buffer(
                tensors=sorted(members),
                size_bytes=max(sizes[t] for t in members),
                first_op=min(first[t] for t in members),
                last_op=max(last[t] for t in members),
                place=place,
                offset=0 if place != ARENA else -1,
            )
        )
    arena = [b for b in buffers if b.place == ARENA]
    best_name, best_peak, best_offsets = "", None, None
    orders = dict(ORDERS)
    # A few seeded random orders on top of the classic ones: cheap, and they sometimes find
    # a tighter packing the sorted orders miss. Deterministic for a given graph.
    rng = random.Random(0)
    for k in range(n_random_orders if len(arena) > 2 else 0):
        ranks = {id(b): rng.random() for b in arena}
        orders[f"random{k}"] = lambda b, ranks=ranks: ranks[id(b)]
    for name, key in orders.items():
        peak = place_buffers(arena, key, alignment)
        if best_peak is None or peak < best_peak:
            best_name, best_peak, best_offsets = name, peak, [b.offset for b in arena]
    for b, off in zip(arena, best_offsets or [], strict=True):
        b.offset = off
    io_bytes = sum(b.size_bytes for b in buffers if b.place != ARENA)
    plan = MemoryPlan(
        buffers=buffers, arena_bytes=best_peak or 0, io_bytes=io_bytes, order=best_name
    )
    for b in buffers:
        for t in b.tensors:
            plan.location[t] = (b.place, b.offset)
    return plan
