"""The memory planner: lifetimes, aliasing and first-fit placement, pinned to hand-computed
offsets (TFLM's greedy planner tests do the same)."""

from __future__ import annotations

from tinylarge.tiny.codegen.planner import ARENA, INPUT, OUTPUT, Buffer, place_buffers, plan_memory


def _chain(opcodes, sizes, in_place=True):
    """X=0 -> T1=1 -> T2=2 -> ... -> Y=last, one op per arrow."""
    n = len(opcodes)
    ins = [[i] for i in range(n)]
    outs = [[i + 1] for i in range(n)]
    return plan_memory(n, ins, outs, opcodes, sizes, [0], [n], in_place=in_place)


def test_chain_reuses_dead_buffers():
    """T1 (100 B, ops 0..1), T2 (50 B, ops 1..2), T3 (100 B, ops 2..3): T1 and T3 never live
    together, so both take offset 0 and T2 sits above at 100; the peak is T1 + T2 = 150."""
    sizes = {0: 10, 1: 100, 2: 50, 3: 100, 4: 10}
    plan = _chain(["CONV_2D"] * 4, sizes)
    assert plan.location[1] == (ARENA, 0)
    assert plan.location[2] == (ARENA, 100)
    assert plan.location[3] == (ARENA, 0)
    assert plan.arena_bytes == 150
    assert plan.location[0] == (INPUT, 0) and plan.location[4] == (OUTPUT, 0)
    assert plan.io_bytes == 20


def test_first_fit_fills_gaps():
    """B (64 B, 0..3) goes first at 0; A (32 B, 0..1) overlaps B -> 64; C (16 B, 2..3) overlaps
    only B (A is dead by then) -> the gap at 64."""
    a, b, c = Buffer([1], 32, 0, 1), Buffer([2], 64, 0, 3), Buffer([3], 16, 2, 3)
    peak = place_buffers([a, b, c], key=lambda x: -x.size_bytes)
    assert (b.offset, a.offset, c.offset) == (0, 64, 64)
    assert peak == 96


def test_views_and_elementwise_ops_run_in_place():
    """CONV -> RESHAPE (view) -> LOGISTIC (input dies there) -> FC: T1, T2, T3 share one 64 B
    buffer; without in-place execution the chain needs two."""
    sizes = {0: 16, 1: 64, 2: 64, 3: 64, 4: 8}
    ops = ["CONV_2D", "RESHAPE", "LOGISTIC", "FULLY_CONNECTED"]
    plan = _chain(ops, sizes)
    assert plan.location[1] == plan.location[2] == plan.location[3] == (ARENA, 0)
    assert plan.arena_bytes == 64
    assert _chain(ops, sizes, in_place=False).arena_bytes == 128


def test_elementwise_not_in_place_while_its_input_is_still_read():
    """ADD(T2, T1) at op 2 cannot overwrite T1 if op 3 still reads it."""
    sizes = {0: 8, 1: 32, 2: 32, 3: 32, 4: 8}
    ins = [[0], [1], [2, 1], [3, 1]]
    outs = [[1], [2], [3], [4]]
    ops = ["CONV_2D", "CONV_2D", "ADD", "ADD"]
    plan = plan_memory(4, ins, outs, ops, sizes, [0], [4])
    assert plan.location[3] != plan.location[1]
    # T2 dies at op 2 and has T3's size, so T3 reuses it
    assert plan.location[3] == plan.location[2]
    assert plan.arena_bytes == 64


def test_view_of_the_model_input_reads_the_callers_buffer():
    sizes = {0: 40, 1: 40, 2: 4}
    plan = plan_memory(2, [[0], [1]], [[1], [2]], ["RESHAPE", "FULLY_CONNECTED"], sizes, [0], [2])
    assert plan.location[1] == (INPUT, 0)
    assert plan.arena_bytes == 0


def test_elementwise_never_writes_the_callers_input():
    sizes = {0: 40, 1: 40, 2: 4}
    plan = plan_memory(2, [[0], [1]], [[1], [2]], ["LOGISTIC", "FULLY_CONNECTED"], sizes, [0], [2])
    assert plan.location[1] == (ARENA, 0)
    assert plan.arena_bytes == 40
