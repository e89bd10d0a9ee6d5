/* tl_arith.h - integer arithmetic shared by the kernels (static inline; not part of the API).
 *
 * The DSP path (ARMv7E-M: Cortex-M4, M7, M33 with the DSP extension) uses ACLE intrinsics
 * (SMLAD, SXTB16, SXTAB16, SMLAxy) and SMMLAR; the portable path (Cortex-M0+/M3, the host)
 * computes the same integers in plain C. The choice is made by the compiler's target macros,
 * so one generated source serves every core; define TL_PORTABLE to force the portable path.
 */
#ifndef TL_ARITH_H_
#define TL_ARITH_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1 && !defined(TL_PORTABLE)
#define TL_DSP 1
#include <arm_acle.h>
#else
#define TL_DSP 0
#endif

#define TL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TL_INT32_MIN (-2147483647 - 1)
#define TL_INT32_MAX 2147483647

static inline int8_t tl_clamp_s8(int32_t x, int32_t lo, int32_t hi) {
  return (int8_t)TL_MIN(TL_MAX(x, lo), hi);
}

/* round(a * b / 2^31) with halves rounded up, saturating the one overflow case
 * (gemmlowp SaturatingRoundingDoublingHighMul, ARM VQRDMULH). */
static inline int32_t tl_srdhm(int32_t a, int32_t b) {
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  if (a == b && a == TL_INT32_MIN) return TL_INT32_MAX;
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

/* x / 2^exponent, rounding half away from zero (gemmlowp RoundingDivideByPOT). */
static inline int32_t tl_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM's double-rounding MultiplyByQuantizedMultiplier: real ~= multiplier * 2^(shift - 31). */
static inline int32_t tl_mbqm(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  const int32_t shifted = (int32_t)(uint32_t)((uint32_t)x << left_shift);
  return tl_rdbpot(tl_srdhm(shifted, multiplier), right_shift);
}

/* The same requantization in one multiply, for |acc| < 2^30 and shift <= 0 (the generator
 * checks both). With h = floor((acc*m + 2^30) / 2^31) (SRDHM rounds halves up) and r = -shift,
 * RoundingDivideByPOT(h, r) = floor((h + 2^(r-1) - [h < 0]) / 2^r) for r >= 1, and the sign of
 * h may be replaced by the sign of acc (they differ only when h = 0, where both give 0). Nested
 * floors of divisions by integers compose, so the result, plus the output zero point, is
 *   (floor((2*acc*m + 2^31) / 2^32) + add + neg*[acc < 0]) >> r,  add = 2^(r-1) + zp*2^r,
 * with neg = -1 for r >= 1 and 0 for r = 0. floor((2*acc*m + 2^31) / 2^32) + add is SMMLAR.
 * q = {m, add, r, neg}; identical integers to tl_mbqm(acc, m, -r) + zp (tested exhaustively
 * on random values in test_tl_kernels.c). */
static inline int32_t tl_rq4(int32_t acc, int32_t m, int32_t add, int32_t r, int32_t neg) {
#if TL_DSP
  int32_t g;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(g) : "r"(acc * 2), "r"(m), "r"(add));
#else
  const int32_t g = (int32_t)(((int64_t)(acc * 2) * m + (int64_t)add * 4294967296LL +
                               2147483648LL) >> 32);
#endif
  return (g + ((acc >> 31) & neg)) >> r;
}

static inline int32_t tl_rq(int32_t acc, const int32_t *q) {
  return tl_rq4(acc, q[0], q[1], q[2], q[3]);
}

/* Requantize, clamp to the activation range, narrow to int8. */
static inline int8_t tl_rq_clamp(int32_t acc, const int32_t *q, int32_t lo, int32_t hi) {
  int32_t y = tl_rq(acc, q);
  y = y < lo ? lo : y;
  y = y > hi ? hi : y;
  return (int8_t)y;
}

/* Clamp to [lo, hi]; `full` (lo = -128, hi = 127) is one SSAT on the DSP path. */
static inline int32_t tl_act(int32_t y, int32_t full, int32_t lo, int32_t hi) {
#if TL_DSP
  if (full) return __ssat(y, 8);
#else
  (void)full;
#endif
  y = y < lo ? lo : y;
  return y > hi ? hi : y;
}

/* The next output pixel (batch, y, x) in NHWC order, or in reverse order. */
static inline void tl_next_pixel(int32_t *batch, int32_t *y, int32_t *x, int32_t h, int32_t w,
                                 int32_t reverse) {
  const int32_t step = reverse ? -1 : 1;
  *x += step;
  if (*x == w || *x < 0) {
    *x = reverse ? w - 1 : 0;
    *y += step;
    if (*y == h || *y < 0) {
      *y = reverse ? h - 1 : 0;
      *batch += step;
    }
  }
}

/* Unaligned little-endian loads and stores (memcpy compiles to one LDR/STR where allowed). */
static inline uint32_t tl_load32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

#if TL_DSP
/* (b1, b3) of a word, sign-extended to two int16 lanes: SXTB16 with a rotation by 8. */
static inline int16x2_t tl_sxtb16_ror8(uint32_t x) {
  int16x2_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
/* (off + b1, off + b3) */
static inline int16x2_t tl_sxtab16_ror8(int16x2_t off, uint32_t x) {
  int16x2_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(off), "r"(x));
  return r;
}
#endif

#endif /* TL_ARITH_H_ */
