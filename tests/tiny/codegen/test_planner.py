"""The memory planner: lifetimes, aliasing, overlap rules and first-fit placement, pinned to
hand-computed offsets (TFLM's greedy planner tests do the same)."""

from __future__ import annotations

from tinylarge.tiny.codegen.lower_common import ANY, Overlap
from tinylarge.tiny.codegen.planner import Buffer, OpMemory, place_buffers, plan_memory


def test_chain_reuses_dead_buffers():
    """X(10) -> T1(100) -> T2(50) -> T3(100) -> Y(10). T1 and T3 never live together: both at 0;
    T2 above them at 100; X (alive with T1) and Y (alive with T3) fit at 100 too. The peak is
    T1 + T2 = 150, which every plan needs at op 1."""
    sizes = {0: 10, 1: 100, 2: 50, 3: 100, 4: 10}
    ops = [OpMemory([i], [i + 1]) for i in range(4)]
    plan = plan_memory(ops, sizes, [0], [4])
    assert plan.arena_bytes == 150
    assert (plan.location[1], plan.location[2], plan.location[3]) == (0, 100, 0)
    assert plan.location[0] == 100 and plan.location[4] == 100


def test_first_fit_fills_gaps():
    """B (64 B, ops 0..3) goes first at 0; A (32 B, 0..1) overlaps B -> 64; C (16 B, 2..3)
    overlaps only B (A is dead by then) -> the gap at 64."""
    a = Buffer("a", [1], 32, 0, 1)
    b = Buffer("b", [2], 64, 0, 3)
    c = Buffer("c", [3], 16, 2, 3)
    peak = place_buffers([a, b, c], key=lambda x: -x.size_bytes, rules={})
    assert (b.offset, a.offset, c.offset) == (0, 64, 64)
    assert peak == 96


def test_elementwise_op_runs_in_place():
    """X(16) -> CONV -> T1(64) -> LOGISTIC -> T2(64) -> FC -> Y(8): the table lookup may write
    T2 over T1 (element i is read before it is written), so the chain needs 64 + 16 bytes;
    without the rule T1 and T2 (both alive at op 1) need 128."""
    sizes = {0: 16, 1: 64, 2: 64, 3: 8}
    ops = [
        OpMemory([0], [1]),
        OpMemory([1], [2], overlaps=[Overlap(1, 2, *ANY)]),
        OpMemory([2], [3]),
    ]
    plan = plan_memory(ops, sizes, [0], [3])
    assert plan.location[1] == plan.location[2]
    assert plan.arena_bytes == 80
    assert plan_memory(ops, sizes, [0], [3], overlap=False).arena_bytes == 128


def test_forward_overlap_lets_the_output_start_below_the_input():
    """A conv-like op whose output may start up to 20 bytes below its input (rows it no longer
    needs): input A and output B (100 B each) share 80 bytes; the op runs first to last."""
    sizes = {0: 100, 1: 100}
    ops = [OpMemory([0], [1], overlaps=[Overlap(0, 1, -20, None)])]
    plan = plan_memory(ops, sizes, [0], [1])
    assert plan.arena_bytes == 120
    assert plan.location[1] - plan.location[0] <= -20
    assert plan.reverse[0] is False and plan.n_overlapping == 1


def test_backward_overlap_runs_the_kernel_last_to_first():
    """Only a backward rule (output at least 20 bytes above the input): same 120 bytes, and the
    planner marks the op to run in reverse."""
    sizes = {0: 100, 1: 100}
    ops = [OpMemory([0], [1], overlaps=[Overlap(0, 1, None, 20)])]
    plan = plan_memory(ops, sizes, [0], [1])
    assert plan.arena_bytes == 120
    assert plan.location[1] - plan.location[0] >= 20
    assert plan.reverse[0] is True


def test_no_overlap_while_the_input_is_still_read():
    """ADD(T1, X) -> T2 at op 1 may not overwrite T1 when op 2 still reads it."""
    sizes = {0: 32, 1: 32, 2: 32, 3: 32}
    ops = [
        OpMemory([0], [1]),
        OpMemory([1, 0], [2], overlaps=[Overlap(1, 2, *ANY)]),
        OpMemory([2, 1], [3]),
    ]
    plan = plan_memory(ops, sizes, [0], [3])
    assert plan.location[2] != plan.location[1]


def test_two_dying_inputs_may_share_only_exactly():
    """ADD of two dying same-size inputs: the output may take either input's exact place."""
    sizes = {0: 16, 1: 32, 2: 32, 3: 32}
    ops = [
        OpMemory([0], [1, 2]),
        OpMemory(
            [1, 2], [3], overlaps=[Overlap(1, 3, *ANY, exact=True), Overlap(2, 3, *ANY, exact=True)]
        ),  # fmt: skip
    ]
    plan = plan_memory(ops, sizes, [0], [3])
    assert plan.location[3] in (plan.location[1], plan.location[2])
    assert plan.arena_bytes == 80  # X + T1 + T2 at op 0 (X dies there too)


def test_scratch_lives_only_during_its_op_and_views_alias():
    """A conv with 40 B of scratch, then a RESHAPE (view): the scratch may reuse the bytes of
    tensors dead by then, never those alive at its op; the view shares its input's offset."""
    sizes = {0: 64, 1: 64, 2: 64, 3: 8}
    ops = [
        OpMemory([0], [1], scratch_bytes=40),
        OpMemory([1], [2], view=True),
        OpMemory([2], [3]),
    ]
    plan = plan_memory(ops, sizes, [0], [3])
    assert plan.location[2] == plan.location[1]
    s = plan.scratch[0]
    for t in (0, 1):
        lo, hi = plan.location[t], plan.location[t] + sizes[t]
        assert s + 40 <= lo or s >= hi
    assert plan.arena_bytes == 64 + 64 + 40


def test_memory_greedy_execution_order_runs_the_small_branch_first():
    """x -> A (1000 B) and x -> B (10 B) -> C (10 B), then (A, C) -> Y: in the model's order A is
    alive while B and C are made; the greedy order makes B and C first (A's 1000 bytes appear
    last), so the planner can take it when its plan is smaller."""
    import numpy as np

    from tinylarge.tiny.codegen.emit import _greedy_order
    from tinylarge.tiny.graph import Graph, Op, Tensor

    def t(i: int, n: int) -> Tensor:
        e = np.array([], dtype=np.float32)
        return Tensor(i, f"t{i}", (n,), np.dtype(np.int8), e, e, 0, None, False)

    tensors = [t(0, 10), t(1, 1000), t(2, 10), t(3, 10), t(4, 10)]
    ops = [
        Op(0, "CONV_2D", [0], [1]),
        Op(1, "CONV_2D", [0], [2]),
        Op(2, "CONV_2D", [2], [3]),
        Op(3, "ADD", [1, 3], [4]),
    ]
    graph = Graph(tensors, ops, [0], [4])
    assert _greedy_order(graph, ops, keep={0, 4}) == [1, 2, 0, 3]
