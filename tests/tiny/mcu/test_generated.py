"""The generated C measured on the emulated Cortex-M4 the way TFLM is (slow: cross-compiles)."""

from __future__ import annotations

import numpy as np
import pytest

from tinylarge.tiny.codegen import codegen
from tinylarge.tiny.mcu.generated import measure_generated
from tinylarge.tiny.mcu.tflm import random_inputs
from tinylarge.tiny.runtime import TflmRuntime

from .conftest import AD, KWS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", [KWS, AD], ids=lambda p: p.stem)
def test_generated_c_is_bit_exact_and_its_memory_is_counted(model, tmp_path):
    x = random_inputs(model, 2, seed=3)
    g = measure_generated(model, x, "cortex-m4")
    ref = TflmRuntime(model, arena_bytes=400_000).invoke_int8(x).reshape(len(x), -1)
    np.testing.assert_array_equal(g.output_array(), ref)
    code = codegen(model, tmp_path / "c", measure_tflm_arena=False)
    io = x[0].size + ref.shape[1]
    # the static arena (which holds the I/O, overlapped where lifetimes allow) and little else
    assert code.arena_bytes <= g.ram_bytes <= code.arena_bytes + io + 256
    assert g.flash_bytes > code.weight_bytes
    assert g.instructions_median > 0
