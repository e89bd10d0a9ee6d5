"""256-entry tables for int8 elementwise ops, computed with TFLM's integer arithmetic.

An int8 elementwise op maps each of the 256 possible input bytes to one output byte, so the
generator evaluates TFLM's reference arithmetic once per byte (here, in Python) and the C kernel
only looks the result up (``tl_lut_s8``): the same bytes as TFLM at 3-4 instructions per element.
Tables are indexed by the input byte read as unsigned (``lut[(uint8_t)x]``); helpers take the
input value ``v`` in [-128, 127].

References (read, not copied): TFLM ``micro/kernels/activations*.{h,cc}`` (RELU, RELU6),
``leaky_relu_common.cc`` + ``reference/leaky_relu.h``, ``hard_swish_common.cc`` +
``reference/hard_swish.h``, ``tanh.cc`` + ``reference/integer_ops/tanh.h``, ``logistic_common.cc``
+ ``reference/integer_ops/logistic.h``, ``quantize_common.cc`` (requantize), ``dequantize.h``,
``reference/softmax.h``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tinylarge.tiny.codegen import fixedpoint as fx
from tinylarge.tiny.codegen import quantmath as qm

INPUTS = np.arange(256, dtype=np.int64).astype(np.uint8).astype(np.int8).astype(np.int64)


def table(fn: Callable[[int], int]) -> np.ndarray:
    """int8 table with ``table[(uint8)v] = fn(v)``."""
    return np.array([fn(int(v)) for v in INPUTS], dtype=np.int64).astype(np.int8)


def _f32(x: float) -> float:
    return float(np.float32(x))


def _clamp8(x: int) -> int:
    return min(max(x, -128), 127)


def relu_lut(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """RELU: rescale to the output, clamp below at the output zero point."""
    m, s = qm.quantize_multiplier(float(np.float32(in_scale) / np.float32(out_scale)))
    lo = max(-128, out_zp)  # Zy + round(0 / s)
    return table(
        lambda v: min(max(out_zp + qm.multiply_by_quantized_multiplier(v - in_zp, m, s), lo), 127)
    )


def relu6_lut(in_scale: float, in_zp: int) -> np.ndarray:
    """RELU6: TFLM clamps in the input's quantization, [Zx, Zx + round(6 / s)] (no rescale)."""
    six = _clamp8(int(qm.tflite_round(_f32(np.float32(6.0) / np.float32(in_scale)))) + in_zp)
    return table(lambda v: min(max(v, in_zp), six))


def leaky_relu_lut(
    in_scale: float, in_zp: int, out_scale: float, out_zp: int, alpha: float
) -> np.ndarray:
    """LEAKY_RELU: identity multiplier for x >= 0, alpha multiplier (its sign kept) below."""
    s_in, s_out, a = np.float32(in_scale), np.float32(out_scale), np.float32(alpha)
    m_alpha, s_alpha = qm.quantize_multiplier(float(s_in * a / s_out))
    m_id, s_id = qm.quantize_multiplier(float(s_in / s_out))

    def f(v: int) -> int:
        x = v - in_zp
        if x >= 0:
            return _clamp8(out_zp + qm.multiply_by_quantized_multiplier(x, m_id, s_id))
        scaled = qm.multiply_by_quantized_multiplier(x, abs(m_alpha), s_alpha)
        return _clamp8(out_zp + (-scaled if m_alpha < 0 else scaled))

    return table(f)


def _srdhm16(a: int, b: int) -> int:
    if a == b == -32768:
        return 32767
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else (1 - (1 << 14))
    total = ab + nudge
    q = abs(total) // (1 << 15)
    return q if total >= 0 else -q


def _sdhm16(a: int, b: int) -> int:
    """SaturatingDoublingHighMul (hard_swish.h): no rounding nudge, C division."""
    if a == b == -32768:
        return 32767
    ab = a * b
    q = abs(ab) // (1 << 15)
    return q if ab >= 0 else -q


def _sat_left_shift16(value: int, amount: int) -> int:
    return min(max(value * (1 << amount), -32768), 32767)


def _down_scale_to_int16(multiplier: int) -> int:
    if multiplier >= qm.INT32_MAX - (1 << 15):
        return 32767
    return (multiplier + (1 << 15)) >> 16


def hard_swish_lut(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """HARD_SWISH: x * relu6(x + 3) / 6 in int16 fixed point (TFLM reference hard_swish.h)."""
    s_in, s_out = np.float32(in_scale), np.float32(out_scale)
    hires_input_scale = np.float32(1.0 / 128.0) * s_in
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    out_m32, out_exp = qm.quantize_multiplier(float(hires_input_scale / s_out))
    out_m16 = _down_scale_to_int16(out_m32)
    rel_m32, rel_exp = qm.quantize_multiplier(float(hires_input_scale / reluish_scale))
    rel_m16 = _down_scale_to_int16(rel_m32)
    if out_exp > 0:
        raise ValueError("HARD_SWISH output multiplier exponent > 0 (TFLM refuses it too)")

    def f(v: int) -> int:
        x = v - in_zp
        hires = x * (1 << 7)
        preshift_out = _srdhm16(hires, out_m16)
        reluish = hires
        if rel_exp > 0:
            reluish = _sat_left_shift16(reluish, rel_exp - 1)
        reluish = _srdhm16(reluish, rel_m16)
        if rel_exp > 0:
            reluish = _sat_left_shift16(reluish, 1)
        if rel_exp < 0:
            reluish = qm.rounding_divide_by_pot(reluish, -rel_exp)
        reluish = (reluish + (1 << 15)) >> 1
        pre = _sdhm16(reluish, preshift_out)
        out = qm.rounding_divide_by_pot(pre, -out_exp) + out_zp
        return _clamp8(out)

    return table(f)


def _q4_input(in_scale: float) -> tuple[int, int, int]:
    """(multiplier, left shift, radius) putting x - Zx into Q4.27 (tanh.cc, logistic_common.cc)."""
    return qm.logistic_params(in_scale)


def _q4_table(in_scale: float, in_zp: int, fn, out_shift: int, out_offset: int) -> np.ndarray:
    """LOGISTIC / TANH: x - Zx in Q4.27 (saturating outside the input radius), the gemmlowp
    function, a rounding shift to the int8 output."""
    m, left, radius = _q4_input(in_scale)

    def f(v: int) -> int:
        x = v - in_zp
        if x <= -radius:
            return -128
        if x >= radius:
            return 127
        q4 = qm.multiply_by_quantized_multiplier(x, m, left)
        return _clamp8(qm.rounding_divide_by_pot(fn(q4, 4), out_shift) + out_offset)

    return table(f)


def logistic_lut(in_scale: float, in_zp: int) -> np.ndarray:
    """LOGISTIC, output scale 1/256 and zero point -128."""
    return _q4_table(in_scale, in_zp, fx.logistic, 23, -128)


def tanh_lut(in_scale: float, in_zp: int) -> np.ndarray:
    """TANH, output scale 1/128 and zero point 0."""
    return _q4_table(in_scale, in_zp, fx.tanh, 24, 0)


def requantize_lut(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """QUANTIZE int8 -> int8: ``double(s_in) / double(s_out)`` multiplier."""
    m, s = qm.requantize_params(in_scale, out_scale)
    return table(lambda v: _clamp8(qm.multiply_by_quantized_multiplier(v - in_zp, m, s) + out_zp))


def dequantize_lut(scale: float, zp: int) -> np.ndarray:
    """DEQUANTIZE int8 -> float32: ``float(double(scale) * (v - zp))``."""
    s = float(np.float32(scale))
    return np.array([np.float32(s * (int(v) - zp)) for v in INPUTS], dtype=np.float32)


def softmax_exp_lut(in_scale: float, beta: float) -> np.ndarray:
    """Q0.31 ``exp`` of each difference ``d = x - max`` in [-255, 0], at index ``255 + d``;
    0 where TFLM skips the term (``d < diff_min``)."""
    m, left, diff_min = qm.softmax_params(in_scale, beta)
    out = np.zeros(256, dtype=np.int64)
    for i in range(256):
        d = i - 255
        if d >= diff_min:
            scaled = qm.multiply_by_quantized_multiplier(d, m, left)
            out[i] = fx.exp_on_negative_values(scaled, 5)
    return out.astype(np.int32)


def float_repr(x: float) -> str:
    """A C float literal that reads back as exactly ``np.float32(x)``."""
    v = float(np.float32(x))
    if math.isinf(v) or math.isnan(v):
        raise ValueError(f"non-finite float {v}")
    return f"{v!r}f"  # Python's repr of a float always holds "." or "e"
