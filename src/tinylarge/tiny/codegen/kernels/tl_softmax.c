/* tl_softmax.c - int8 SOFTMAX (TFLM reference softmax.h with gemmlowp fixed point; read, not
 * copied). The Q0.31 exp of each possible difference x - max comes from a generator table. */
#include "tl_arith.h"
#include "tl_kernels.h"

static int32_t tl_fp_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static int32_t tl_fp_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* SaturatingRoundingMultiplyByPOT */
static int32_t tl_fp_mul_pot(int32_t x, int exponent) {
  if (exponent < 0) return tl_rdbpot(x, -exponent);
  if (exponent > 0) {
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) return TL_INT32_MAX;
    if (x < -threshold) return TL_INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
  }
  return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, 3 iterations). */
static int32_t tl_one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + TL_INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  const int32_t constant_48_over_17 = 1515870810;
  const int32_t constant_neg_32_over_17 = -1010580540;
  const int32_t f2_one = (int32_t)1 << 29; /* 1.0 in Q2.29 */
  int32_t x = tl_fp_add(constant_48_over_17, tl_srdhm(half_denominator, constant_neg_32_over_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = tl_srdhm(half_denominator, x);
    const int32_t one_minus = tl_fp_sub(f2_one, half_denominator_times_x);
    x = tl_fp_add(x, tl_fp_mul_pot(tl_srdhm(x, one_minus), 2));
  }
  /* ExactMulByPot<-1> turns Q2.29 into Q1.30 (same raw); Rescale<0> multiplies by 2. */
  return tl_fp_mul_pot(x, 1);
}

static int tl_clz32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

void tl_softmax_s8(const tl_softmax_params_t *p, const int32_t *exp_lut, const int8_t *input,
                   int8_t *output) {
  /* differences are Q5.26, the sum of exps Q12.19 */
  int32_t i, c;
  for (i = 0; i < p->outer; ++i) {
    const int8_t *x = input + (size_t)i * p->depth;
    int8_t *y = output + (size_t)i * p->depth;
    int32_t max_in_row = -128;
    int32_t sum_of_exps = 0;
    int headroom_plus_one, exponent;
    int32_t shifted_scale;
    for (c = 0; c < p->depth; ++c) max_in_row = TL_MAX(max_in_row, x[c]);
    for (c = 0; c < p->depth; ++c) {
      sum_of_exps = tl_fp_add(sum_of_exps, tl_rdbpot(exp_lut[255 - (max_in_row - x[c])], 12));
    }
    headroom_plus_one = tl_clz32((uint32_t)sum_of_exps);
    shifted_scale = tl_one_over_one_plus_x(
        (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31)));
    exponent = (12 - headroom_plus_one) + 31 - 8;
    for (c = 0; c < p->depth; ++c) {
      const int32_t e = exp_lut[255 - (max_in_row - x[c])];
      y[c] = tl_clamp_s8(tl_rdbpot(tl_srdhm(shifted_scale, e), exponent) - 128, -128, 127);
    }
  }
}
