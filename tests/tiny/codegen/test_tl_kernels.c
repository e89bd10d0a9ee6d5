/* C unit tests of the kernel library (src/tinylarge/tiny/codegen/kernels/). Every expected value
 * is computed by hand in the comment next to it, or checked against the reference helper it must
 * equal. Built and run by tests/tiny/codegen/test_kernels.py on the host (portable path) and on
 * Cortex-M4 under QEMU (DSP path); prints one line per failure and returns their count. */
#include <stdio.h>
#include <string.h>

#include "tl_arith.h"
#include "tl_kernels.h"

static int failures = 0;

#define CHECK_EQ(got, want)                                                          \
  do {                                                                               \
    long g_ = (long)(got), w_ = (long)(want);                                        \
    if (g_ != w_) {                                                                  \
      printf("FAIL %s:%d: %s = %ld, want %ld\n", __FILE__, __LINE__, #got, g_, w_); \
      ++failures;                                                                    \
    }                                                                                \
  } while (0)

static void test_fixed_point(void) {
  CHECK_EQ(tl_srdhm(1 << 30, 1 << 30), 1 << 29);                    /* 0.5 * 0.5 = 0.25 */
  CHECK_EQ(tl_srdhm(-2147483647 - 1, -2147483647 - 1), 2147483647); /* saturates */
  CHECK_EQ(tl_srdhm(3, 1 << 30), 2);                                /* 1.5 -> 2 (half up) */
  CHECK_EQ(tl_srdhm(-3, 1 << 30), -1);                              /* -1.5 -> -1 (half up) */
  CHECK_EQ(tl_rdbpot(3, 1), 2);                                     /* 1.5 -> 2 */
  CHECK_EQ(tl_rdbpot(-3, 1), -2);                                   /* -1.5 -> -2 */
  CHECK_EQ(tl_rdbpot(-5, 2), -1);                                   /* -1.25 -> -1 */
  CHECK_EQ(tl_rdbpot(7, 0), 7);
  CHECK_EQ(tl_mbqm(45, 1 << 30, 1), 45);                            /* x * 0.5 * 2^1 */
  CHECK_EQ(tl_mbqm(11, 1 << 30, -1), 3);                            /* 11 * 0.25 = 2.75 -> 3 */
}

/* A small LCG: deterministic pseudo-random 32-bit values on every target. */
static uint32_t lcg_state = 12345u;
static uint32_t lcg(void) {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

/* The one-multiply requantization equals TFLM's two roundings for |acc| < 2^30, shift in
 * [-22, 0], any zero point: 200,000 random cases plus exact ties (power-of-two multipliers). */
static void test_fast_requant_equals_reference(void) {
  int i, bad = 0;
  for (i = 0; i < 200000; ++i) {
    const int32_t m = (int32_t)(0x40000000u | (lcg() >> 2)); /* a normalised Q31 multiplier */
    const int32_t mult = (i % 5 == 0) ? (1 << 30) : m; /* 2^30: results land on exact halves */
    const int32_t r = (int32_t)(lcg() % 23u);
    const int32_t zp = (int32_t)(lcg() % 256u) - 128;
    const uint32_t u = lcg();
    const int32_t acc = (i % 3 == 0) ? (int32_t)(u % 40001u) - 20000
                                     : (int32_t)(u % 0x7FFFFFFFu) - 0x3FFFFFFF;
    const int32_t add = (r >= 1 ? (1 << (r - 1)) : 0) + zp * (1 << r);
    const int32_t q[4] = {mult, add, r, r >= 1 ? -1 : 0};
    if (tl_rq(acc, q) != tl_mbqm(acc, mult, -r) + zp) ++bad;
  }
  CHECK_EQ(bad, 0);
}

static void test_lut(void) {
  /* table = byte + 1; in place and reversed */
  int8_t lut[256], x[4] = {-128, -1, 0, 126};
  int i;
  for (i = 0; i < 256; ++i) lut[i] = (int8_t)((int8_t)(uint8_t)i + 1);
  tl_lut_s8(lut, x, x, 4, 1);
  CHECK_EQ(x[0], -127);
  CHECK_EQ(x[1], 0);
  CHECK_EQ(x[2], 1);
  CHECK_EQ(x[3], 127);
}

static void test_binary(void) {
  /* MUL: (3 - 1) * (4 - 2) = 4, multiplier 0.5 = (2^30, 0) -> 2, + 5 = 7 */
  tl_binary_params_t p;
  int8_t a[1] = {3}, b[1] = {4}, y[1];
  memset(&p, 0, sizeof p);
  p.op = TL_OP_MUL;
  p.out_shape[0] = 1;
  p.input1_offset = -1;
  p.input2_offset = -2;
  p.output_offset = 5;
  p.output_multiplier = 1 << 30;
  p.output_shift = 0;
  p.act_min = -128;
  p.act_max = 127;
  tl_binary_s8(&p, a, b, y);
  CHECK_EQ(y[0], 7);
  /* PRELU: x = -4 (< 0) times alpha 3 = -12, multiplier 0.25 = (2^30, -1) -> -3 */
  p.op = TL_OP_PRELU;
  p.input1_offset = 0;
  p.input2_offset = 0;
  p.output_offset = 0;
  p.input1_multiplier = 1 << 30;
  p.input1_shift = -1;
  a[0] = -4;
  b[0] = 3;
  tl_binary_s8(&p, a, b, y);
  CHECK_EQ(y[0], -3);
}

static void test_pooling_and_mean(void) {
  /* 2x2 input {1,2,3,4} (1 channel): average 2.5 -> 3 (half away from zero), max 4 */
  const int8_t x[4] = {1, 2, 3, 4};
  int8_t y[1];
  tl_pool_params_t p;
  tl_mean_params_t m;
  memset(&p, 0, sizeof p);
  p.batches = 1; p.in_h = p.in_w = 2; p.channels = 1; p.out_h = p.out_w = 1;
  p.filter_h = p.filter_w = 2; p.stride_h = p.stride_w = 2; p.act_min = -128; p.act_max = 127;
  tl_avg_pool_s8(&p, x, y);
  CHECK_EQ(y[0], 3);
  tl_max_pool_s8(&p, x, y);
  CHECK_EQ(y[0], 4);
  /* MEAN over 4 values, multiplier 1/4 = (2^30, -1): sum 10 -> 2.5 -> 3 */
  memset(&m, 0, sizeof m);
  m.outer = 1; m.reduced = 4; m.inner = 1; m.multiplier = 1 << 30; m.shift = -1;
  tl_mean_s8(&m, x, y);
  CHECK_EQ(y[0], 3);
}

static void test_data_movement(void) {
  /* TRANSPOSE of a 2x3 matrix {0..5}: out[j][i] = in[i][j] -> {0,3,1,4,2,5} */
  const int8_t x[6] = {0, 1, 2, 3, 4, 5};
  int8_t y[12];
  tl_gather_params_t g;
  tl_pad_params_t pad;
  const int8_t *ins[2];
  const int32_t sizes[2] = {1, 2};
  const int16_t ys[2] = {0, 0}, xs[4] = {0, 0, 1, 1};
  memset(&g, 0, sizeof g);
  g.n_dims = 2; g.count[0] = 3; g.count[1] = 2; g.stride[0] = 1; g.stride[1] = 3;
  tl_gather_s8(&g, x, y);
  CHECK_EQ(y[0], 0); CHECK_EQ(y[1], 3); CHECK_EQ(y[2], 1);
  CHECK_EQ(y[3], 4); CHECK_EQ(y[4], 2); CHECK_EQ(y[5], 5);
  /* STRIDED_SLICE x[1:, ::-2] of the 2x3 matrix: row 1 from column 2 backwards -> {5, 3} */
  memset(&g, 0, sizeof g);
  g.n_dims = 1; g.count[0] = 2; g.stride[0] = -2; g.offset = 5;
  tl_gather_s8(&g, x, y);
  CHECK_EQ(y[0], 5); CHECK_EQ(y[1], 3);
  /* PAD one column of 9 on the left of a 1x2 row: {9, 0, 1} */
  memset(&pad, 0, sizeof pad);
  pad.in_shape[0] = pad.in_shape[1] = 1; pad.in_shape[2] = 2; pad.in_shape[3] = 1;
  pad.before[2] = 1; pad.pad_value = 9;
  tl_pad_s8(&pad, x, y);
  CHECK_EQ(y[0], 9); CHECK_EQ(y[1], 0); CHECK_EQ(y[2], 1);
  /* CONCATENATION of {0} and {1, 2} per outer step, 2 steps: {0,1,2, 1,3,4} */
  ins[0] = x;
  ins[1] = x + 1;
  tl_concat_s8(2, ins, sizes, 2, y);
  CHECK_EQ(y[0], 0); CHECK_EQ(y[1], 1); CHECK_EQ(y[2], 2);
  CHECK_EQ(y[3], 1); CHECK_EQ(y[4], 3); CHECK_EQ(y[5], 4);
  /* RESIZE_NEAREST 1x2 -> 2x4 (1 channel): every output row is {0, 0, 1, 1} */
  tl_resize_nearest_s8(1, 1, 2, 1, 2, 4, ys, xs, x, y);
  CHECK_EQ(y[0], 0); CHECK_EQ(y[2], 1); CHECK_EQ(y[5], 0); CHECK_EQ(y[7], 1);
}

static void test_fully_connected_ref(void) {
  /* acc = (3 + 1) * (1 + 2) = 12 with input offset 2 and filter offset 1; * 0.5 -> 6; + 1 = 7 */
  const tl_fc_ref_params_t p = {1, 1, 1, 2, 1, 1, -128, 127, 0};
  const int8_t x[1] = {1}, w[1] = {3};
  const int32_t m[1] = {1 << 30}, s[1] = {0};
  int8_t y[1];
  tl_fully_connected_ref_s8(&p, x, w, NULL, m, s, y);
  CHECK_EQ(y[0], 7);
}

int main(void) {
  test_fixed_point();
  test_fast_requant_equals_reference();
  test_lut();
  test_binary();
  test_pooling_and_mean();
  test_data_movement();
  test_fully_connected_ref();
  printf("%d failures\n", failures);
  return failures;
}
