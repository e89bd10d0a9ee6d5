"""Instructions, flash and RAM of generated C measured on an emulated Cortex-M."""

from __future__ import annotations

from tinylarge.tiny.codegen.emit import generate
from tinylarge.tiny.codegen.measure import measure_qemu
from tinylarge.tiny.codegen.verify import expected_outputs, random_inputs
from tinylarge.tiny.graph import load_graph

from .conftest import MODELS


def test_instructions_per_inference_and_per_op_on_cortex_m4():
    """KWS: per-op counts add up to the total (within the counter's 40-instruction ticks and
    the hooks' cost), every op is counted, the DSP kernels beat the portable ones on the same
    core by far, and the outputs are TFLM's."""
    graph = load_graph(MODELS["kws"])
    code = generate(graph)
    x = random_inputs((1, *code.input.shape[1:]), 2, 0)
    m = measure_qemu(code, x, per_op=True)
    assert (m.outputs == expected_outputs(code, MODELS["kws"].read_bytes(), x)).all()
    assert 2_000_000 < m.instructions < 6_000_000
    assert set(m.per_op) == set(code.nodes)
    assert abs(sum(m.per_op.values()) - m.instructions) < 0.02 * m.instructions
    convs = [n for n in code.nodes if graph.ops[n].opcode in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert sum(m.per_op[n] for n in convs) > 0.9 * m.instructions
    # flash: weights (22.5 KB int8, conv weights widened to int16) + code; RAM: the arena
    assert graph.weight_bytes < m.flash_bytes < 3 * graph.weight_bytes
    assert m.ram_bytes == code.arena_bytes
    portable = measure_qemu(code, x[:1], target="cortex-m0plus")
    assert portable.instructions > 2 * m.instructions
    assert (portable.outputs == m.outputs[:1]).all()
