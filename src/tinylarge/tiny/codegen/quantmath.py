"""TFLite/TFLM integer requantization arithmetic as pure Python functions.

These fold float scales into the int32 multiplier/shift pairs that the generated C uses, and they
mirror, operation by operation, what the C kernels do at run time, so that tests can check the C
library against an independent model of the arithmetic.

References (read, not copied): TFLM ``tensorflow/lite/kernels/internal/quantization_util.cc``
(QuantizeMultiplier, PreprocessSoftmaxScaling, CalculateInputRadius), ``common.cc``
(MultiplyByQuantizedMultiplier, double-rounding variant, which TFLM builds by default), gemmlowp
``fixedpoint/fixedpoint.h`` (SaturatingRoundingDoublingHighMul, RoundingDivideByPOT), and
``tensorflow/lite/kernels/kernel_util.cc`` (GetQuantizedConvolutionMultipler,
CalculateActivationRangeQuantized). TFLite int8 spec:
https://ai.google.dev/edge/litert/models/quantization_spec
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def tflite_round(x: float) -> float:
    """``std::round``: halves go away from zero (Python's ``round`` goes to even)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def wrap_int32(x: int) -> int:
    """Two's-complement wrap to int32 (what C does with an unsigned round trip)."""
    return ((x + 2**31) % 2**32) - 2**31


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """``real_multiplier`` -> (Q0.31 multiplier, shift) with ``real ~= m * 2**(shift - 31)``.

    frexp gives ``q`` in [0.5, 1); ``q * 2**31`` is rounded half away from zero; a result of exactly
    2**31 is halved with the shift bumped; shifts below -31 flush to (0, 0) (TFLM's behaviour).
    """
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)
    q_fixed = int(tflite_round(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp SRDHM (ARM VQRDMULH): ``round(a * b / 2**31)``, saturating ``MIN * MIN``."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    # C's int64 division truncates toward zero.
    total = ab + nudge
    q = abs(total) // (1 << 31)
    return wrap_int32(q if total >= 0 else -q)


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: arithmetic right shift rounding half away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLM's double-rounding ``MultiplyByQuantizedMultiplier`` for an int32 ``x``.

    ``x * 2**max(shift,0)`` (wrapping like C), SRDHM by the multiplier, then a rounding right shift
    by ``max(-shift, 0)``.
    """
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(wrap_int32(x * (1 << left)), multiplier), right
    )


def requantize(acc: int, multiplier: int, shift: int, zero_point: int, qmin: int, qmax: int) -> int:
    """The tail of every TFLM int8 kernel: scale the int32 accumulator, add the output zero point,
    clamp to the activation range."""
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + zero_point
    return min(max(out, qmin), qmax)


def conv_multipliers(
    input_scale: float, filter_scales: np.ndarray, output_scale: float
) -> tuple[list[int], list[int]]:
    """Per-channel multipliers of CONV_2D / DEPTHWISE_CONV_2D / per-channel FULLY_CONNECTED.

    TFLM (PopulateConvolutionQuantizationParams) multiplies in double:
    ``double(in) * double(filter[c]) / double(out)``.
    """
    pairs = [
        quantize_multiplier(
            float(np.float32(input_scale)) * float(s) / float(np.float32(output_scale))
        )
        for s in np.asarray(filter_scales, dtype=np.float32)
    ]
    return [m for m, _ in pairs], [s for _, s in pairs]


def fc_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple[int, int]:
    """Per-tensor FULLY_CONNECTED multiplier: ``double(in) * double(w) / double(out)``.

    Older TFLite code multiplied the two scales in float32 first; the TFLM build that is our
    oracle does not: the float32 product changes the multiplier's last bits, which flipped one
    output byte of the MLPerf AD model in 50 random inputs (an accumulator sitting on a .5 tie).
    """
    mult, shift = conv_multipliers(input_scale, np.array([filter_scale], np.float32), output_scale)
    return mult[0], shift[0]


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """int8 clamp bounds of a fused activation (CalculateActivationRangeQuantized).

    ``Quantize(f) = zero_point + round(float32(f / scale))``.
    """
    qmin, qmax = -128, 127

    def q(f: float) -> int:
        return zero_point + int(tflite_round(float(np.float32(f) / np.float32(scale))))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"unsupported fused activation {activation!r}")


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_bits: int = 31):
    """Largest input difference that does not saturate (CalculateInputRadius)."""
    max_input_rescaled = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * (1 << (total_bits - input_integer_bits))
        / (1 << input_left_shift)
    )
    return int(math.floor(max_input_rescaled))


def softmax_params(input_scale: float, beta: float) -> tuple[int, int, int]:
    """int8 SOFTMAX (input_multiplier, input_left_shift, diff_min); Q5.26 scaled differences.

    PreprocessSoftmaxScaling: ``min(beta * scale * 2**26, 2**31 - 1)`` -> QuantizeMultiplier.
    """
    k_scaled_diff_integer_bits = 5
    real = min(
        float(np.float32(beta)) * float(np.float32(input_scale)) * (1 << (31 - 5)),
        (1 << 31) - 1.0,
    )
    multiplier, left_shift = quantize_multiplier(real)
    diff_min = -calculate_input_radius(k_scaled_diff_integer_bits, left_shift)
    return multiplier, left_shift, diff_min


def logistic_params(input_scale: float) -> tuple[int, int, int]:
    """int8 LOGISTIC (input_multiplier, input_left_shift, input_range_radius); Q4.27 input.

    TFLM takes frexp of ``scale * 2**27`` without the 2**31 overflow fix-up of QuantizeMultiplier.
    """
    real = float(np.float32(input_scale)) * float(1 << (31 - 4))
    q, left_shift = math.frexp(real)
    multiplier = int(tflite_round(q * (1 << 31)))
    radius = calculate_input_radius(4, left_shift, 31)
    return multiplier, left_shift, radius


def add_params(
    scale1: float, scale2: float, scale_out: float, left_shift: int = 20
) -> tuple[list[int], list[int]]:
    """int8 ADD multipliers (TFLM add_common.cc): inputs rescaled to ``2 * max(s1, s2)``.

    Returns ([m1, m2, m_out], [s1, s2, s_out]).
    """
    s1, s2, so = (float(np.float32(s)) for s in (scale1, scale2, scale_out))
    twice_max = 2.0 * max(s1, s2)
    reals = [s1 / twice_max, s2 / twice_max, twice_max / ((1 << left_shift) * so)]
    pairs = [quantize_multiplier(r) for r in reals]
    return [m for m, _ in pairs], [s for _, s in pairs]


def mul_params(scale1: float, scale2: float, scale_out: float) -> tuple[int, int]:
    """int8 MUL multiplier: ``double(s1) * double(s2) / double(s_out)`` (mul_common.cc)."""
    s1, s2, so = (float(np.float32(s)) for s in (scale1, scale2, scale_out))
    return quantize_multiplier(s1 * s2 / so)


def requantize_params(input_scale: float, output_scale: float) -> tuple[int, int]:
    """int8 -> int8 QUANTIZE (requantize): ``double(s_in) / double(s_out)``."""
    return quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))


def mean_params(input_scale: float, output_scale: float, n_reduced: int) -> tuple[int, int]:
    """int8 MEAN: ``double(s_in) / double(s_out)`` with ``1 / n_reduced`` folded in.

    TFLM (reference QuantizedMeanOrSum) divides the Q0.31 multiplier by ``n`` after shifting it
    left by ``min(floor(log2 n), 32, 31 + shift)`` bits, truncating, and lowers the shift to match.
    """
    multiplier, shift = quantize_multiplier(
        float(np.float32(input_scale)) / float(np.float32(output_scale))
    )
    extra = min(n_reduced.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // n_reduced, shift - extra


# Largest |accumulator| for which the one-multiply requantization (tl_rq in tl_arith.h) is exact:
# it doubles the accumulator, and bounds the rounding shift so the zero point fits in 32 bits.
FAST_ACC_LIMIT = 2**30
FAST_MAX_RIGHT_SHIFT = 22


def fast_requant_table(
    multipliers: list[int], shifts: list[int], zero_point: int, acc_bound: int
) -> np.ndarray | None:
    """Rows ``(m, add, r, neg)`` for ``tl_rq``: ``(SMMLAR(2 acc, m, add) + (neg & sign(acc))) >> r``
    equals ``multiply_by_quantized_multiplier(acc, m, -r) + zero_point`` for every
    ``|acc| <= acc_bound`` (proof in tl_arith.h). ``None`` when a channel needs the general form
    (a left shift, a right shift above 22, or accumulators that may reach 2**30)."""
    if acc_bound >= FAST_ACC_LIMIT:
        return None
    rows = []
    for m, s in zip(multipliers, shifts, strict=True):
        r = -s
        if r < 0 or r > FAST_MAX_RIGHT_SHIFT:
            return None
        add = ((1 << (r - 1)) if r >= 1 else 0) + zero_point * (1 << r)
        rows.append((m, add, r, -1 if r >= 1 else 0))
    return np.array(rows, dtype=np.int64).astype(np.int32)


def fast_requant(acc: int, row: tuple[int, int, int, int]) -> int:
    """Python model of ``tl_rq`` (for tests): the SMMLAR form of the requantization."""
    m, add, r, neg = row
    g = (2 * acc * m + add * 2**32 + 2**31) >> 32
    return (g + ((-1 if acc < 0 else 0) & neg)) >> r


def sub_params(
    scale1: float, scale2: float, scale_out: float, left_shift: int = 20
) -> tuple[list[int], list[int]]:
    """int8 SUB multipliers (TFLM sub_common.cc): like ADD, but the ratios are float32."""
    s1, s2, so = (np.float32(s) for s in (scale1, scale2, scale_out))
    twice_max = np.float32(2) * max(s1, s2)
    reals = [s1 / twice_max, s2 / twice_max, twice_max / (np.float32(1 << left_shift) * so)]
    pairs = [quantize_multiplier(float(np.float32(r))) for r in reals]
    return [m for m, _ in pairs], [s for _, s in pairs]


def prelu_params(
    input_scale: float, alpha_scale: float, output_scale: float
) -> tuple[tuple[int, int], tuple[int, int]]:
    """int8 PRELU (prelu_common.cc): (multiplier, shift) for x >= 0 and for x * alpha."""
    si, sa, so = (float(np.float32(s)) for s in (input_scale, alpha_scale, output_scale))
    return quantize_multiplier(si / so), quantize_multiplier(si * sa / so)
