"""The generated C measured on the emulated Cortex-M the way TFLM is (slow: cross-compiles)."""

from __future__ import annotations

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.tiny.codegen.emit import generate
from tinylarge.tiny.codegen.verify import FloatTflm, random_float_inputs
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.mcu.generated import firmware_sizes, measure_generated
from tinylarge.tiny.mcu.tflm import random_inputs
from tinylarge.tiny.runtime import TflmRuntime

from .conftest import AD, FIXTURES, KWS

pytestmark = pytest.mark.slow


def _oracle(model, x):
    return TflmRuntime(model, arena_bytes=400_000).invoke_int8(x).reshape(len(x), -1)


@pytest.mark.parametrize("model", [KWS, AD], ids=lambda p: p.stem)
def test_generated_c_is_bit_exact_and_its_memory_is_counted(model):
    x = random_inputs(model, 2, seed=3)
    g = measure_generated(model, x, "cortex-m4")
    np.testing.assert_array_equal(g.output_array(), _oracle(model, x))
    # the static arena holds the I/O (overlapped where lifetimes allow): RAM is the arena and
    # the little static data of the generated code, no I/O buffer outside it
    assert g.io_bytes_outside_arena == 0
    assert g.arena_bytes <= g.ram_bytes <= g.arena_bytes + 64
    assert g.flash_bytes > load_graph(model).weight_bytes
    assert g.instructions_median > 0
    assert g.stack_bytes < 4096  # a lower bound (see tinylarge.tiny.mcu.tflm): AD measures 0
    assert measure_generated(model, x, "cortex-m4") == g  # the second comes from the cache


def test_instructions_per_op_add_up_and_dsp_kernels_beat_the_portable_ones():
    """KWS: every emitted op is counted, the counts add up to the total (the hooks cost a few
    instructions each), convolutions dominate, and the same C on an ARMv6-M core (portable
    kernels) needs far more instructions for the same output bytes."""
    graph = load_graph(KWS)
    x = random_inputs(KWS, 1, seed=0)
    m = measure_generated(KWS, x, "cortex-m4", per_op=True)
    assert 2_000_000 < m.instructions_median < 6_000_000
    code = generate(graph)
    assert [o.index for o in m.ops] == code.nodes
    assert [o.opcode for o in m.ops] == [graph.ops[n].opcode for n in code.nodes]
    total = sum(o.instructions for o in m.ops)
    assert abs(total - m.instructions_median) < 0.01 * m.instructions_median
    convs = sum(o.instructions for o in m.ops if o.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"))
    assert convs > 0.9 * total
    portable = measure_generated(KWS, x, "cortex-m0plus")
    assert portable.instructions_median > 2 * m.instructions_median
    assert portable.outputs == m.outputs


def test_float_io_tensors_are_counted_inside_the_arena():
    """A float-I/O model: the float input is quantized and the output dequantized inside the
    counted inference (as TFLM's Invoke runs QUANTIZE/DEQUANTIZE), float for float equal to
    TFLM's; the float tensors are written and read in place in the arena, as TFLM's, so no RAM
    lies outside it."""
    model = FIXTURES / "tf_float_io_int8.tflite"
    code = generate(load_graph(model))
    x = random_float_inputs(code, 2, seed=0)
    g = measure_generated(code, x, "cortex-m4")
    want = FloatTflm(model.read_bytes()).invoke(x).astype(np.float32)
    got = np.array([np.frombuffer(bytes.fromhex(h), dtype=np.float32) for h in g.outputs])
    np.testing.assert_array_equal(got.view(np.uint32), want.reshape(len(x), -1).view(np.uint32))
    assert g.io_bytes_outside_arena == 0
    assert g.arena_bytes >= 4 * code.output_size  # the float output is in it
    assert g.ram_bytes >= g.arena_bytes
    with pytest.raises(TinylargeError, match="float32"):
        measure_generated(code, x.astype(np.int8), "cortex-m4")


def test_flash_alone_matches_the_measured_firmware():
    code = generate(load_graph(AD))
    flash, ram = firmware_sizes(code, "cortex-m4", "-O2")
    g = measure_generated(code, random_inputs(AD, 1, seed=0), "cortex-m4")
    assert (flash, ram) == (g.flash_bytes, g.ram_bytes)
