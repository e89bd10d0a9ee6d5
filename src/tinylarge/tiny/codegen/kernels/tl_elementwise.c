/* tl_elementwise.c - elementwise int8 ops (TFLM reference add.h, sub.h, mul.h, prelu.h,
 * quantize.h, dequantize.h; unary ops through generator-computed tables). */
#include "tl_arith.h"
#include "tl_kernels.h"

void tl_lut_s8(const int8_t *lut, const int8_t *input, int8_t *output, int32_t size,
               int32_t reverse) {
  int32_t i;
  if (reverse) {
    for (i = size - 1; i >= 0; --i) output[i] = lut[(uint8_t)input[i]];
  } else {
    for (i = 0; i < size; ++i) output[i] = lut[(uint8_t)input[i]];
  }
}

static int8_t tl_binary_one(const tl_binary_params_t *p, int32_t a, int32_t b) {
  int32_t out;
  if (p->op == TL_OP_MUL) {
    out = tl_mbqm((a + p->input1_offset) * (b + p->input2_offset), p->output_multiplier,
                  p->output_shift);
  } else if (p->op == TL_OP_PRELU) {
    const int32_t x = a + p->input1_offset;
    out = x >= 0 ? tl_mbqm(x, p->output_multiplier, p->output_shift)
                 : tl_mbqm(x * (b + p->input2_offset), p->input1_multiplier, p->input1_shift);
  } else {
    /* each input rescaled to 2 * max(s1, s2) with 20 bits of headroom, summed, rescaled */
    const int32_t x1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t s1 = tl_mbqm(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tl_mbqm(x2, p->input2_multiplier, p->input2_shift);
    out = tl_mbqm(p->op == TL_OP_SUB ? s1 - s2 : s1 + s2, p->output_multiplier, p->output_shift);
  }
  return tl_clamp_s8(out + p->output_offset, p->act_min, p->act_max);
}

/* The same integers with one multiply per rescaling (rows: input1, input2, output; the output
 * row holds the zero point; PRELU: row 0 for x >= 0, row 2 for x * alpha). */
static int8_t tl_binary_fast(const tl_binary_params_t *p, int32_t a, int32_t b) {
  const int32_t *q = p->rq;
  int32_t out;
  if (p->op == TL_OP_MUL) {
    out = tl_rq((a + p->input1_offset) * (b + p->input2_offset), q + 8);
  } else if (p->op == TL_OP_PRELU) {
    const int32_t x = a + p->input1_offset;
    out = x >= 0 ? tl_rq(x, q) : tl_rq(x * (b + p->input2_offset), q + 8);
  } else {
    const int32_t s1 = tl_rq((a + p->input1_offset) * (1 << 20), q);
    const int32_t s2 = tl_rq((b + p->input2_offset) * (1 << 20), q + 4);
    out = tl_rq(p->op == TL_OP_SUB ? s1 - s2 : s1 + s2, q + 8);
  }
  return tl_clamp_s8(out, p->act_min, p->act_max);
}

#define TL_BINARY_LOOPS(ONE)                                                                 \
  do {                                                                                       \
    if (p->n_dims == 0) {                                                                    \
      const int32_t total = p->out_shape[0];                                                 \
      if (p->reverse) {                                                                      \
        for (i = total - 1; i >= 0; --i) output[i] = ONE(p, input1[i], input2[i]);           \
      } else {                                                                               \
        for (i = 0; i < total; ++i) output[i] = ONE(p, input1[i], input2[i]);                \
      }                                                                                      \
    } else {                                                                                 \
      /* innermost dimension in a tight loop, the outer ones by counters */                  \
      const int32_t last = p->n_dims - 1, run = p->out_shape[last];                          \
      const int32_t st1 = p->in1_strides[last], st2 = p->in2_strides[last];                  \
      int32_t idx[TL_MAX_DIMS] = {0, 0, 0, 0, 0, 0};                                         \
      int32_t off1 = 0, off2 = 0, n = 0, total = 1, d;                                       \
      for (d = 0; d < p->n_dims; ++d) total *= p->out_shape[d];                              \
      while (n < total) {                                                                    \
        for (i = 0; i < run; ++i) {                                                          \
          output[n + i] = ONE(p, input1[off1 + i * st1], input2[off2 + i * st2]);            \
        }                                                                                    \
        n += run;                                                                            \
        for (d = last - 1; d >= 0; --d) {                                                    \
          off1 += p->in1_strides[d];                                                         \
          off2 += p->in2_strides[d];                                                         \
          if (++idx[d] < p->out_shape[d]) break;                                             \
          off1 -= p->in1_strides[d] * p->out_shape[d];                                       \
          off2 -= p->in2_strides[d] * p->out_shape[d];                                       \
          idx[d] = 0;                                                                        \
        }                                                                                    \
      }                                                                                      \
    }                                                                                        \
  } while (0)

void tl_binary_s8(const tl_binary_params_t *p, const int8_t *input1, const int8_t *input2,
                  int8_t *output) {
  int32_t i;
  if (p->fast) {
    TL_BINARY_LOOPS(tl_binary_fast);
  } else {
    TL_BINARY_LOOPS(tl_binary_one);
  }
}

void tl_quantize_f32(const float *input, int8_t *output, int32_t size, float scale,
                     int32_t zero_point) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    /* TfLiteRound(x / scale): float division, halves away from zero; the integer part is
     * exact in float below 2^23 and anything beyond +-1000 clamps anyway */
    float q = input[i] / scale;
    int32_t r;
    float frac;
    if (q > 1000.0f) q = 1000.0f;
    if (q < -1000.0f) q = -1000.0f;
    r = (int32_t)q;
    frac = q - (float)r;
    if (frac >= 0.5f) r += 1;
    if (frac <= -0.5f) r -= 1;
    output[i] = tl_clamp_s8(r + zero_point, -128, 127);
  }
}

void tl_dequantize_f32(const float *lut, const int8_t *input, float *output, int32_t size) {
  int32_t i;
  /* last to first: the float output may start at or after the int8 input (in place) */
  for (i = size - 1; i >= 0; --i) output[i] = lut[(uint8_t)input[i]];
}
