/* C unit tests of the kernel library (src/tinylarge/tiny/codegen/kernels/tl_kernels.c).
 * Every expected value is computed by hand in the comment next to it. Built and run by
 * tests/tiny/codegen/test_kernels.py; prints one line per failure and returns their count. */
#include <stdio.h>
#include <string.h>

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
  CHECK_EQ(tl_srdhm(1 << 30, 1 << 30), 1 << 29);            /* 0.5 * 0.5 = 0.25 */
  CHECK_EQ(tl_srdhm(-2147483647 - 1, -2147483647 - 1), 2147483647); /* saturates */
  CHECK_EQ(tl_srdhm(3, 1 << 30), 2);                        /* 1.5 -> 2 (half up) */
  CHECK_EQ(tl_srdhm(-3, 1 << 30), -1);                      /* -1.5 -> -1 (half up) */
  CHECK_EQ(tl_rdbpot(3, 1), 2);                             /* 1.5 -> 2 */
  CHECK_EQ(tl_rdbpot(-3, 1), -2);                           /* -1.5 -> -2 (away from zero) */
  CHECK_EQ(tl_rdbpot(-5, 2), -1);                           /* -1.25 -> -1 */
  CHECK_EQ(tl_rdbpot(7, 0), 7);
  CHECK_EQ(tl_mbqm(45, 1 << 30, 1), 45);                    /* x * 0.5 * 2^1 */
  CHECK_EQ(tl_mbqm(11, 1 << 30, -1), 3);                    /* 11 * 0.25 = 2.75 -> 3 */
}

static void test_fully_connected(void) {
  /* acc = 3*1 + 4*2 + 5 = 16; 16 * 0.5 = 8; + 1 = 9 */
  const tl_fc_params_t p = {1, 2, 1, 0, 0, 1, -128, 127, 0};
  const int8_t x[2] = {1, 2}, w[2] = {3, 4};
  const int32_t b[1] = {5}, m[1] = {1 << 30}, s[1] = {0};
  int8_t y[1];
  tl_fully_connected_s8(&p, x, w, b, m, s, y);
  CHECK_EQ(y[0], 9);
}

static void test_conv2d_same(void) {
  /* 3x3 input 1..9, 3x3 all-ones filter, SAME (pad 1), multiplier 1.0 = (2^30, 1) */
  tl_conv_params_t p;
  int8_t x[9], w[9], y[9];
  int32_t m[1] = {1 << 30}, s[1] = {1};
  int i;
  memset(&p, 0, sizeof p);
  p.batches = 1; p.in_h = p.in_w = 3; p.in_c = 1; p.out_h = p.out_w = 3; p.out_c = 1;
  p.filter_h = p.filter_w = 3; p.filter_c = 1; p.stride_h = p.stride_w = 1;
  p.dilation_h = p.dilation_w = 1; p.pad_h = p.pad_w = 1; p.depth_multiplier = 1;
  p.act_min = -128; p.act_max = 127;
  for (i = 0; i < 9; ++i) {
    x[i] = (int8_t)(i + 1);
    w[i] = 1;
  }
  tl_conv2d_s8(&p, x, w, NULL, m, s, y);
  CHECK_EQ(y[4], 45); /* centre: 1 + ... + 9 */
  CHECK_EQ(y[0], 12); /* corner: 1 + 2 + 4 + 5 */
  CHECK_EQ(y[8], 28); /* corner: 5 + 6 + 8 + 9 */
  p.act_max = 20;     /* fused clamp */
  tl_conv2d_s8(&p, x, w, NULL, m, s, y);
  CHECK_EQ(y[4], 20);
  /* the same filter as a depthwise conv with one channel */
  p.act_max = 127;
  tl_depthwise_conv2d_s8(&p, x, w, NULL, m, s, y);
  CHECK_EQ(y[4], 45);
  CHECK_EQ(y[2], 16); /* 2 + 3 + 5 + 6 */
}

static void test_pooling(void) {
  const tl_pool_params_t p = {1, 2, 2, 1, 1, 1, 2, 2, 2, 2, 0, 0, -128, 127};
  const int8_t a[4] = {1, 2, 3, 5}, b[4] = {-1, -2, -3, -5}, c[4] = {1, 2, 2, 1};
  int8_t y[1];
  tl_avg_pool_s8(&p, a, y);
  CHECK_EQ(y[0], 3); /* 11/4 = 2.75 -> 3 */
  tl_avg_pool_s8(&p, b, y);
  CHECK_EQ(y[0], -3); /* -2.75 -> -3 */
  tl_avg_pool_s8(&p, c, y);
  CHECK_EQ(y[0], 2); /* 1.5 -> 2, away from zero */
  tl_max_pool_s8(&p, b, y);
  CHECK_EQ(y[0], -1);
}

static void test_mean(void) {
  /* mean of {1,2,3,5} with multiplier 1.0/4 folded = (2^30, -1): 11 * 0.25 = 2.75 -> 3 */
  const tl_mean_params_t p = {1, 4, 1, 0, 0, 1 << 30, -1};
  const int8_t x[4] = {1, 2, 3, 5};
  int8_t y[1];
  tl_mean_s8(&p, x, y);
  CHECK_EQ(y[0], 3);
}

static void test_add_mul(void) {
  /* equal scales: inputs to 2*max = 2 (0.5 = (2^30, 0) each), output 2/2^20 = (2^30, -18) */
  tl_binary_params_t p;
  const int8_t a[2] = {10, -7}, b[2] = {20, 3};
  int8_t y[2];
  memset(&p, 0, sizeof p);
  p.n_dims = 1; p.out_shape[0] = 2; p.in1_strides[0] = 1; p.in2_strides[0] = 1;
  p.input1_multiplier = p.input2_multiplier = p.output_multiplier = 1 << 30;
  p.output_shift = -18; p.left_shift = 20; p.act_min = -128; p.act_max = 127;
  tl_add_s8(&p, a, b, y);
  CHECK_EQ(y[0], 30);
  CHECK_EQ(y[1], -4);
  /* broadcast the second input: stride 0 */
  p.in2_strides[0] = 0;
  tl_add_s8(&p, a, b, y);
  CHECK_EQ(y[1], 13); /* -7 + 20 */
  /* MUL with multiplier 1.0 = (2^30, 1) */
  p.in2_strides[0] = 1; p.output_shift = 1;
  tl_mul_s8(&p, a, b, y);
  CHECK_EQ(y[0], 127); /* 200 clamps */
  CHECK_EQ(y[1], -21);
}

static void test_softmax_logistic(void) {
  /* beta * scale = 1: multiplier 2^26 = (2^30, 27), diff_min = -floor(31 * 2^26 / 2^27) */
  const tl_softmax_params_t sp = {1, 4, 1 << 30, 27, -15};
  const int8_t x[4] = {7, 7, 7, 7};
  const int8_t x2[4] = {0, -128, -128, -128};
  int8_t y[4];
  /* scale 0.1f, zero point 0: 0.1f * 2^27 = 0.8000000119 * 2^24 -> (1717986944, 24);
   * radius = floor(15 * 2^27 / 2^24) = 120 (inputs beyond it saturate) */
  const tl_logistic_params_t lp = {3, 0, 120, 1717986944, 24};
  const int8_t lx[3] = {0, 127, -128};
  int8_t ly[3];
  tl_softmax_s8(&sp, x, y);
  CHECK_EQ(y[0], -64); /* 0.25 * 256 - 128 */
  CHECK_EQ(y[3], -64);
  tl_softmax_s8(&sp, x2, y);
  CHECK_EQ(y[0], 127); /* ~1.0 saturates */
  CHECK_EQ(y[1], -128); /* below diff_min */
  tl_logistic_s8(&lp, lx, ly);
  CHECK_EQ(ly[0], 0);   /* sigmoid(0) = 0.5 -> 128 - 128 */
  CHECK_EQ(ly[1], 127); /* sigmoid(12.7) ~ 1 */
  CHECK_EQ(ly[2], -128);
}

static void test_data_movement(void) {
  const tl_pad_params_t pp = {{1, 1, 2, 1}, {0, 0, 1, 0}, {0, 0, 1, 0}, -5};
  const int8_t x[2] = {1, 2}, x2[4] = {3, 4, 5, 6};
  const int8_t *ins[2];
  const int32_t sizes[2] = {1, 2};
  const tl_requant_params_t rp = {2, 0, 3, 1 << 30, 0}; /* scale 0.5, zero point 3 */
  int8_t y[6];
  tl_pad_s8(&pp, x, y);
  CHECK_EQ(y[0], -5);
  CHECK_EQ(y[1], 1);
  CHECK_EQ(y[2], 2);
  CHECK_EQ(y[3], -5);
  ins[0] = x;
  ins[1] = x2;
  tl_concat_s8(2, ins, sizes, 2, y); /* [1 | 3 4], [2 | 5 6] */
  CHECK_EQ(y[0], 1);
  CHECK_EQ(y[1], 3);
  CHECK_EQ(y[3], 2);
  CHECK_EQ(y[5], 6);
  tl_requantize_s8(&rp, x2, y);
  CHECK_EQ(y[0], 5); /* 3 * 0.5 = 1.5 -> 2, + 3 */
  CHECK_EQ(y[1], 5); /* 4 * 0.5 = 2, + 3 */
  tl_copy_s8(x2, y, 4);
  CHECK_EQ(y[2], 5);
}

int main(void) {
  test_fixed_point();
  test_fully_connected();
  test_conv2d_same();
  test_pooling();
  test_mean();
  test_add_mul();
  test_softmax_logistic();
  test_data_movement();
  printf("%d failures\n", failures);
  return failures;
}
