"""quantmath against independent references: exact rational arithmetic (fractions) for the
rounding primitives and hand-checked TFLM values for the parameter folding."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinylarge.tiny.codegen import quantmath as qm

INT32 = st.integers(-(2**31), 2**31 - 1)


def round_half_away(x: Fraction) -> int:
    return int(math.copysign(math.floor(abs(x) + Fraction(1, 2)), x))


@given(INT32, INT32)
def test_srdhm_is_round_half_up_of_the_exact_product(a, b):
    """SRDHM(a, b) = floor(a*b / 2^31 + 1/2), except MIN*MIN which saturates."""
    got = qm.saturating_rounding_doubling_high_mul(a, b)
    if a == b == -(2**31):
        assert got == 2**31 - 1
    else:
        assert got == math.floor(Fraction(a * b, 2**31) + Fraction(1, 2))


@given(INT32, st.integers(0, 31))
def test_rounding_divide_by_pot_rounds_half_away_from_zero(x, e):
    assert qm.rounding_divide_by_pot(x, e) == round_half_away(Fraction(x, 2**e))


@given(st.floats(1e-9, 1e4, allow_nan=False))
def test_quantize_multiplier_reconstructs_the_real_value(real):
    m, shift = qm.quantize_multiplier(real)
    assert 2**30 <= m < 2**31
    assert m * 2.0 ** (shift - 31) == pytest.approx(real, rel=2**-30)


def test_quantize_multiplier_hand_values():
    assert qm.quantize_multiplier(0.5) == (2**30, 0)
    assert qm.quantize_multiplier(1.0) == (2**30, 1)
    assert qm.quantize_multiplier(0.75) == (3 * 2**29, 0)
    assert qm.quantize_multiplier(0.0) == (0, 0)
    assert qm.quantize_multiplier(2.0**-40) == (0, 0)  # flushed: shift < -31
    # q * 2^31 rounds up to 2^31 -> halved, shift bumped
    assert qm.quantize_multiplier(1 - 2.0**-40) == (2**30, 1)


def test_multiply_by_quantized_multiplier_double_rounding():
    """TFLM rounds twice: 0.5 * 2^-1 of 3 is SRDHM(3, 0.5)=2 (1.5 up), then 2/2 = 1.
    One rounding of 3 * 0.25 = 0.75 would also give 1; 5 * 0.25 = 1.25 -> SRDHM 3 -> 2 (vs 1)."""
    assert qm.multiply_by_quantized_multiplier(3, 2**30, -1) == 1
    assert qm.multiply_by_quantized_multiplier(5, 2**30, -1) == 2
    assert qm.multiply_by_quantized_multiplier(-5, 2**30, -1) == -1


def test_activation_ranges():
    assert qm.activation_range("NONE", 0.1, 5) == (-128, 127)
    assert qm.activation_range("RELU", 0.1, -128) == (-128, 127)
    assert qm.activation_range("RELU", 0.1, 3) == (3, 127)
    # 6 / 0.05 = 120 -> -128 + 120 = -8
    assert qm.activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert qm.activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    with pytest.raises(ValueError, match="TANH"):
        qm.activation_range("TANH", 0.1, 0)


def test_softmax_and_logistic_params():
    # beta*scale = 1 -> 2^26 -> (2^30, 27); radius floor(31 * 2^26 / 2^27) = 15
    assert qm.softmax_params(1.0, 1.0) == (2**30, 27, -15)
    m, shift, radius = qm.logistic_params(0.1)
    assert (m, shift, radius) == (1717986944, 24, 120)


def test_mean_folds_one_over_n():
    # 1.0 -> (2^30, 1); n = 4: shift by 2, divide: (2^32 / 4, -1) = (2^30, -1) = 0.25
    assert qm.mean_params(1.0, 1.0, 4) == (2**30, -1)
    m, s = qm.mean_params(0.02, 0.01, 3)
    assert m * 2.0 ** (s - 31) == pytest.approx(2 / 3, rel=1e-8)


def test_fc_multiplier_takes_the_scale_product_in_double():
    """TFLM computes double(in) * double(w) / double(out); a float32 product differs here."""
    s_in, s_w, s_out = 0.0123, 0.00071, 0.0456
    d = float(np.float32(s_in)) * float(np.float32(s_w)) / float(np.float32(s_out))
    f = float(np.float32(s_in) * np.float32(s_w)) / float(np.float32(s_out))
    assert qm.fc_multiplier(s_in, s_w, s_out) == qm.quantize_multiplier(d)
    m_conv, sh_conv = qm.conv_multipliers(s_in, np.array([s_w], np.float32), s_out)
    assert (m_conv[0], sh_conv[0]) == qm.quantize_multiplier(d)
    assert qm.quantize_multiplier(f) != qm.quantize_multiplier(d)


def test_add_params_equal_scales():
    mult, shift = qm.add_params(1.0, 1.0, 1.0)
    assert mult == [2**30, 2**30, 2**30]
    assert shift == [0, 0, -18]  # 0.5, 0.5, 2 / 2^20
