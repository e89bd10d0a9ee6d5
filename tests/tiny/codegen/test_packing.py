"""Weight layouts of the fast kernels, the one-multiply requantization and the lookup tables."""

from __future__ import annotations

import numpy as np
import pytest

from tinylarge.tiny.codegen import luts, packing
from tinylarge.tiny.codegen import quantmath as qm


def test_pack_rows_interleaves_groups_and_round_trips():
    """Rows 0, 1 of a group alternate 4 bytes at a time; k pads to 8, rows to 4."""
    w = np.arange(3 * 6, dtype=np.int8).reshape(3, 6)
    packed, k4 = packing.pack_rows(w, 2)
    assert k4 == 8
    assert packed[:8].tolist() == [0, 1, 2, 3, 6, 7, 8, 9]  # r0 k0..3, r1 k0..3
    assert packed[8:16].tolist() == [4, 5, 0, 0, 10, 11, 0, 0]  # r0 k4..7, r1 k4..7
    np.testing.assert_array_equal(packing.unpack_rows(packed, 3, 6, 2), w)
    assert len(packing.pack_rows(w, 4)[0]) == 4 * 8


def test_int16_rows_follow_the_sxtb16_lane_order():
    """Per 4 inputs: [r0 w0 w2 w1 w3][r1 w0 w2 w1 w3] as int16."""
    w = np.array([[1, 2, 3, 4], [-1, -2, -3, -4]], dtype=np.int8)
    packed, _ = packing.pack_rows_int16(w)
    assert packed.tolist() == [1, 3, 2, 4, -1, -3, -2, -4]


def test_depthwise_groups_hold_their_taps_together():
    """(1 x 2 taps, 5 channels) -> [group][tap][c0 c2 c1 c3], channels padded to 8."""
    w = np.arange(10, dtype=np.int8).reshape(1, 2, 5)  # tap t, channel c -> 5 t + c
    packed = packing.pack_depthwise(w).reshape(2, 2, 4)
    assert packed[0, 0].tolist() == [0, 2, 1, 3]
    assert packed[0, 1].tolist() == [5, 7, 6, 8]
    assert packed[1, 0].tolist() == [4, 0, 0, 0]


def test_fold_bias_and_bound():
    w = np.array([[1, -2], [3, 4]], dtype=np.int8)
    folded = packing.fold_bias(np.array([10, 20]), w, input_offset=5)
    assert folded.tolist() == [10 + 5 * -1, 20 + 5 * 7]
    assert packing.acc_bound(folded, w, 128) == 55 + 128 * 7


@pytest.mark.parametrize("real", [0.5, 0.0071, 0.999, 1e-6])
def test_fast_requant_matches_tflm_on_every_small_accumulator(real):
    m, s = qm.quantize_multiplier(real)
    row = tuple(int(v) for v in qm.fast_requant_table([m], [s], -7, 2**15)[0])
    for acc in range(-(2**15), 2**15, 3):
        assert qm.fast_requant(acc, row) == qm.multiply_by_quantized_multiplier(acc, m, s) - 7


def test_fast_requant_refuses_what_it_cannot_do():
    m, s = qm.quantize_multiplier(3.0)  # a left shift
    assert qm.fast_requant_table([m], [s], 0, 100) is None
    m, s = qm.quantize_multiplier(0.01)
    assert qm.fast_requant_table([m], [s], 0, 2**30) is None  # 2 * acc would overflow
    assert qm.fast_requant_table([m], [s], 0, 2**30 - 1) is not None


def test_tables_have_the_shape_of_their_functions():
    """RELU/RELU6/LEAKY_RELU/TANH/LOGISTIC tables are monotone in the input; TANH is odd (to the
    last bit's rounding); RELU6 saturates at round(6 / scale)."""
    v = np.arange(-128, 128)
    index = v.astype(np.uint8).astype(np.int64)  # the table entry of each input value
    for lut in (
        luts.relu_lut(0.05, 3, 0.05, -128),
        luts.relu6_lut(0.05, 0),
        luts.leaky_relu_lut(0.05, 0, 0.04, 10, 0.2),
        luts.tanh_lut(0.05, 0),
        luts.logistic_lut(0.05, 0),
    ):
        assert np.all(np.diff(lut[index].astype(np.int64)) >= 0)
    t = luts.tanh_lut(0.05, 0)[index].astype(np.int64)
    assert t[128] == 0
    assert np.all(np.abs(t[129:] + t[127:0:-1]) <= 1)  # tanh(v) + tanh(-v), v = 1..127
    assert luts.relu6_lut(0.05, 0)[127] == 120  # round(6 / 0.05)
