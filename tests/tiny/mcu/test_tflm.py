"""TFLM + CMSIS-NN (and reference kernels) on the emulated Cortex-M4: bit-exact with the x86 TFLM
oracle, memory counted as the module doc of ``tinylarge.tiny.mcu.tflm`` says, instructions per op.

The first run on a machine compiles what these models need of TFLM for the M4 (~3 min on 2
busy cores; cached under ~/.cache/tinylarge/tflm by content), hence ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.mcu.costmodel import load_calibration
from tinylarge.tiny.mcu.tflm import measure_tflm, random_inputs
from tinylarge.tiny.runtime import TflmRuntime

from .conftest import AD, KWS, OPZOO, STUDENT, TF_CNN, TF_CONV1D, TF_MLP, TIMENET

pytestmark = pytest.mark.slow


def _oracle(model, x):
    return TflmRuntime(model, arena_bytes=400_000).invoke_int8(x).reshape(len(x), -1)


@pytest.fixture(scope="module")
def kws():
    x = random_inputs(KWS, 3, seed=1)
    return x, measure_tflm(KWS, x, "cortex-m4", "cmsis_nn")


@pytest.mark.parametrize(
    "model", [KWS, AD, OPZOO, TIMENET, STUDENT, TF_CNN, TF_CONV1D, TF_MLP], ids=lambda p: p.stem
)
def test_outputs_are_bit_exact_with_the_x86_oracle(model):
    x = random_inputs(model, 3, seed=2)
    m = measure_tflm(model, x, "cortex-m4", "cmsis_nn", per_op=False)
    assert m.ops == []
    np.testing.assert_array_equal(m.output_array(), _oracle(model, x))


def test_kws_memory_is_the_32_bit_arena_plus_static_state(kws):
    _, m = kws
    assert m.arena_used_bytes == 22_820  # DESIGN.md: the 32-bit arena (24,272 B on x86-64)
    assert m.ram_bytes == m.arena_used_bytes + m.static_ram_bytes
    assert 0 < m.static_ram_bytes < 4096  # interpreter, resolver, allocator bookkeeping
    dep, emp = m.sizes["deploy"], m.sizes["empty"]
    assert m.flash_bytes == dep["text"] + dep["data"] - emp["text"] - emp["data"]
    model_bytes = KWS.stat().st_size
    # the model plus TFLM's interpreter and six CMSIS-NN kernels: tens of KiB, not hundreds
    assert model_bytes + 30_000 < m.flash_bytes < model_bytes + 200_000
    assert 0 < m.stack_bytes < 8192


def test_kws_instructions_per_op_add_up_to_the_invoke(kws):
    _, m = kws
    graph = load_graph(KWS)
    assert [o.opcode for o in m.ops] == [op.opcode for op in graph.ops]
    total = m.instructions_median
    assert 5e6 < total < 10e6  # DESIGN.md: ~7.6 M on the M4
    per_op = sum(o.instructions for o in m.ops)
    assert 0.95 * total < per_op < 1.01 * total  # the rest is the interpreter's dispatch
    convs = sum(o.instructions for o in m.ops if o.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"))
    assert convs > 0.9 * per_op


def test_a_second_measurement_comes_from_the_cache(kws):
    x, m = kws
    again = measure_tflm(KWS, x, "cortex-m4", "cmsis_nn")
    assert again == m


def test_reference_kernels_are_exact_and_slower_than_cmsis_nn(kws):
    x, fast = kws
    ref = measure_tflm(KWS, x, "cortex-m4", "reference")
    np.testing.assert_array_equal(ref.output_array(), fast.output_array())
    assert ref.instructions_median > 2 * fast.instructions_median


def test_inputs_of_the_wrong_size_are_refused():
    with pytest.raises(TinylargeError, match="490"):
        measure_tflm(KWS, np.zeros((1, 10), dtype=np.int8), "cortex-m4", "cmsis_nn")


@pytest.mark.parametrize("model", [KWS, AD], ids=lambda p: p.stem)
def test_the_stored_calibration_instructions_are_what_the_m4_measures(model):
    """calibration.yaml holds measurements, not tuned numbers: re-measure them (the benchmark's
    inputs: 3 seeded, seed 0). The M33's are re-measured by benchmarks/bench_mcu.py."""
    stored = load_calibration().instructions[(model.stem, "cortex-m4")]
    m = measure_tflm(model, random_inputs(model, 3, seed=0), "cortex-m4", "cmsis_nn")
    assert m.instructions_median == stored
