"""gemmlowp's fixed-point transcendental functions on raw int32 values, in pure Python.

TFLM's int8 LOGISTIC, TANH and SOFTMAX evaluate ``exp``, ``1/(1+x)`` and ``(1-x)/(1+x)`` in
gemmlowp fixed point (``fixedpoint/fixedpoint.h``: FixedPoint<int32, kIntegerBits>, read, not
copied). An int8 input has 256 values, so the generator evaluates these functions once per value
here and the C code only looks results up. Every operation wraps or saturates exactly like the C++
(``+``/``-`` wrap in int32, ``*`` is SaturatingRoundingDoublingHighMul, Rescale saturates).
A value ``F<k>`` has ``k`` integer bits: real = raw / 2**(31 - k).
"""

from __future__ import annotations

from tinylarge.tiny.codegen.quantmath import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)


def fp_add(a: int, b: int) -> int:
    return wrap_int32(a + b)


def fp_sub(a: int, b: int) -> int:
    return wrap_int32(a - b)


def fp_mul(a: int, b: int) -> int:
    """Raw product of F<i> and F<j> is an F<i+j>: SRDHM of the raws."""
    return saturating_rounding_doubling_high_mul(a, b)


def mul_by_pot(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT<exponent>."""
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        if x > threshold:
            return INT32_MAX
        if x < -threshold:
            return INT32_MIN
        return wrap_int32(x << exponent)
    return x


def rescale(x: int, src_bits: int, dst_bits: int) -> int:
    """Rescale<dst>(F<src>): multiply the raw by 2**(src - dst), saturating."""
    return mul_by_pot(x, src_bits - dst_bits)


def one(bits: int) -> int:
    """F<bits>::One(); saturates to INT32_MAX for F0."""
    return INT32_MAX if bits == 0 else 1 << (31 - bits)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """exp(a) for a in [-1/4, 0), F0 in and out: Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = fp_add(a, 1 << 28)  # a + 1/8
    x2 = fp_mul(x, x)
    x3 = fp_mul(x2, x)
    x4 = fp_mul(x2, x2)
    x4_over_4 = mul_by_pot(x4, -2)
    poly = mul_by_pot(fp_add(fp_mul(fp_add(x4_over_4, x3), constant_1_over_3), x2), -1)
    return fp_add(constant_term, fp_mul(constant_term, fp_add(x, poly)))


_EXP_MULTIPLIERS = {
    -2: 1672461947,  # exp(-1/4)
    -1: 1302514674,  # exp(-1/2)
    0: 790015084,  # exp(-1)
    1: 290630308,  # exp(-2)
    2: 39332535,  # exp(-4)
    3: 720401,  # exp(-8)
    4: 242,  # exp(-16)
}


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 given as F<integer_bits>; returns F0."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = fp_sub(a & mask, one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0)
    )
    remainder = fp_sub(a_mod_quarter_minus_one_quarter, a)
    for exponent in range(-2, 5):
        if integer_bits > exponent:
            shift_amount = fractional_bits + exponent
            if remainder & (1 << shift_amount):
                result = fp_mul(result, _EXP_MULTIPLIERS[exponent])
    if integer_bits > 5:
        clamp = -(1 << (fractional_bits + 5))  # -32.0
        if a < clamp:
            result = 0
    if a == 0:
        result = INT32_MAX
    return result


def _newton_reciprocal_f2(half_denominator: int) -> int:
    """x ~= 1 / half_denominator (F2), three Newton-Raphson steps from 48/17 - 32/17 d."""
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = fp_add(constant_48_over_17, fp_mul(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = fp_mul(half_denominator, x)  # F2
        one_minus = fp_sub(one(2), half_denominator_times_x)
        x = fp_add(x, rescale(fp_mul(x, one_minus), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """1 / (1 + a) for a in [0, 1), F0 in and out."""
    half_denominator = _trunc_half_sum(a, one(0))
    x = _newton_reciprocal_f2(half_denominator)
    return rescale(x, 1, 0)  # ExactMulByPot<-1> (F2 -> F1, same raw), then Rescale<0>


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """(1 - a) / (1 + a) for a in [0, 1), F0 in and out."""
    half_denominator = _trunc_half_sum(a, one(0))
    x = _newton_reciprocal_f2(half_denominator)
    return rescale(fp_sub(x, one(2)), 2, 0)


def _trunc_half_sum(a: int, b: int) -> int:
    """RoundingHalfSum: (a + b + sign) / 2 in int64, C division (truncates toward zero)."""
    total = a + b
    num = total + (1 if total >= 0 else -1)
    q = abs(num) // 2
    return q if num >= 0 else -q


def logistic(a: int, integer_bits: int) -> int:
    """gemmlowp::logistic of F<integer_bits>, F0 result."""
    if a == 0:
        return 1 << 30  # one half
    abs_a = a if a > 0 else wrap_int32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(wrap_int32(-abs_a), integer_bits)
    )
    return positive if a > 0 else fp_sub(one(0), positive)


def tanh(a: int, integer_bits: int) -> int:
    """gemmlowp::tanh of F<integer_bits>, F0 result."""
    if a == 0:
        return 0
    n = a if a < 0 else wrap_int32(-a)  # -|a|
    # ExactMulByPot<1>: the same raw read as F<integer_bits + 1>
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return wrap_int32(-t) if a < 0 else t
