/* tl_kernels.c - int8 kernels bit-exact with TFLM's reference integer kernels (see tl_kernels.h).
 *
 * The arithmetic follows, step by step, TFLM's reference implementations (read, not copied):
 * integer_ops/conv.h, depthwise_conv.h, fully_connected.h, pooling.h, add.h, mul.h, mean.h,
 * logistic.h, reference/softmax.h, requantize.h, and gemmlowp's fixedpoint.h. Signed overflow is
 * avoided with explicit int64/uint32 arithmetic where the references rely on wrapping.
 */
#include "tl_kernels.h"

#include <stddef.h>

#define TL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TL_INT32_MIN (-2147483647 - 1)
#define TL_INT32_MAX 2147483647

static int8_t tl_clamp_s8(int32_t x, int32_t lo, int32_t hi) {
  return (int8_t)TL_MIN(TL_MAX(x, lo), hi);
}

/* round(a * b / 2^31), saturating the one overflow case (ARM VQRDMULH). */
int32_t tl_srdhm(int32_t a, int32_t b) {
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  if (a == b && a == TL_INT32_MIN) return TL_INT32_MAX;
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

/* x / 2^exponent, rounding half away from zero. */
int32_t tl_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM's double-rounding MultiplyByQuantizedMultiplier: real ~= multiplier * 2^(shift - 31). */
int32_t tl_mbqm(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  const int32_t shifted = (int32_t)(uint32_t)((uint32_t)x << left_shift);
  return tl_rdbpot(tl_srdhm(shifted, multiplier), right_shift);
}

/* One output value of a window that lies fully inside the input (dilation 1, no groups): each
 * filter row is one contiguous run of filter_w * in_c bytes in both filter and input, so the
 * offset term sum(w * Zoff) = Zoff * sum(w) is added once. Same integer as the reference loop. */
static int32_t tl_conv_interior(const tl_conv_params_t *p, const int8_t *in_origin,
                                const int8_t *w, int32_t w_sum) {
  const int32_t run = p->filter_w * p->in_c;
  int32_t acc = 0, filter_y, i;
  for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
    const int8_t *x = in_origin + (size_t)filter_y * p->in_w * p->in_c;
    const int8_t *k = w + (size_t)filter_y * run;
    for (i = 0; i < run; ++i) acc += (int32_t)k[i] * (int32_t)x[i];
  }
  return acc + p->input_offset * w_sum;
}

void tl_conv2d_s8(const tl_conv_params_t *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                  int8_t *output) {
  const int32_t groups = p->in_c / p->filter_c;
  const int32_t filters_per_group = p->out_c / groups;
  int32_t batch, out_y, out_x, out_channel, filter_y, filter_x, in_channel;
  if (groups == 1 && p->dilation_h == 1 && p->dilation_w == 1) {
    const int32_t filter_size = p->filter_h * p->filter_w * p->in_c;
    for (out_channel = 0; out_channel < p->out_c; ++out_channel) {
      const int8_t *w = filter + (size_t)out_channel * filter_size;
      int32_t w_sum = 0, i;
      for (i = 0; i < filter_size; ++i) w_sum += w[i];
      for (batch = 0; batch < p->batches; ++batch) {
        for (out_y = 0; out_y < p->out_h; ++out_y) {
          const int32_t in_y_origin = out_y * p->stride_h - p->pad_h;
          for (out_x = 0; out_x < p->out_w; ++out_x) {
            const int32_t in_x_origin = out_x * p->stride_w - p->pad_w;
            int32_t acc = 0;
            if (in_y_origin >= 0 && in_x_origin >= 0 && in_y_origin + p->filter_h <= p->in_h &&
                in_x_origin + p->filter_w <= p->in_w) {
              acc = tl_conv_interior(
                  p, input + (((size_t)batch * p->in_h + in_y_origin) * p->in_w + in_x_origin) *
                         p->in_c, w, w_sum);
            } else {
              for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
                const int32_t in_y = in_y_origin + filter_y;
                if (in_y < 0 || in_y >= p->in_h) continue;
                for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
                  const int32_t in_x = in_x_origin + filter_x;
                  const int8_t *in_px;
                  const int8_t *w_px;
                  if (in_x < 0 || in_x >= p->in_w) continue;
                  in_px = input + (((size_t)batch * p->in_h + in_y) * p->in_w + in_x) * p->in_c;
                  w_px = w + ((size_t)filter_y * p->filter_w + filter_x) * p->in_c;
                  for (in_channel = 0; in_channel < p->in_c; ++in_channel) {
                    acc += (int32_t)w_px[in_channel] *
                           ((int32_t)in_px[in_channel] + p->input_offset);
                  }
                }
              }
            }
            if (bias) acc += bias[out_channel];
            acc = tl_mbqm(acc, multiplier[out_channel], shift[out_channel]) + p->output_offset;
            output[(((size_t)batch * p->out_h + out_y) * p->out_w + out_x) * p->out_c +
                   out_channel] = tl_clamp_s8(acc, p->act_min, p->act_max);
          }
        }
      }
    }
    return;
  }
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->out_h; ++out_y) {
      const int32_t in_y_origin = out_y * p->stride_h - p->pad_h;
      for (out_x = 0; out_x < p->out_w; ++out_x) {
        const int32_t in_x_origin = out_x * p->stride_w - p->pad_w;
        for (out_channel = 0; out_channel < p->out_c; ++out_channel) {
          const int32_t group = out_channel / filters_per_group;
          const int8_t *w = filter + (size_t)out_channel * p->filter_h * p->filter_w * p->filter_c;
          int32_t acc = 0;
          for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
            const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
            if (in_y < 0 || in_y >= p->in_h) continue;
            for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
              const int32_t in_x = in_x_origin + p->dilation_w * filter_x;
              const int8_t *in_px;
              const int8_t *w_px;
              if (in_x < 0 || in_x >= p->in_w) continue;
              in_px = input + (((size_t)batch * p->in_h + in_y) * p->in_w + in_x) * p->in_c +
                      (size_t)group * p->filter_c;
              w_px = w + ((size_t)filter_y * p->filter_w + filter_x) * p->filter_c;
              for (in_channel = 0; in_channel < p->filter_c; ++in_channel) {
                /* acc += w * (x - Zx); weights are symmetric (Zw = 0) */
                acc += (int32_t)w_px[in_channel] * ((int32_t)in_px[in_channel] + p->input_offset);
              }
            }
          }
          if (bias) acc += bias[out_channel];
          acc = tl_mbqm(acc, multiplier[out_channel], shift[out_channel]);
          acc += p->output_offset;
          output[(((size_t)batch * p->out_h + out_y) * p->out_w + out_x) * p->out_c +
                 out_channel] = tl_clamp_s8(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

/* Depth multiplier 1, channels innermost: each tap updates a block of channel accumulators
 * with a contiguous loop (vectorizable). Integer sums do not depend on order: same result. */
#define TL_DW_BLOCK 32
static void tl_depthwise_dm1_s8(const tl_conv_params_t *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias,
                                const int32_t *multiplier, const int32_t *shift, int8_t *output) {
  int32_t acc[TL_DW_BLOCK];
  int32_t batch, out_y, out_x, c0, c, filter_y, filter_x;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->out_h; ++out_y) {
      const int32_t in_y_origin = out_y * p->stride_h - p->pad_h;
      for (out_x = 0; out_x < p->out_w; ++out_x) {
        const int32_t in_x_origin = out_x * p->stride_w - p->pad_w;
        int8_t *out_px =
            output + (((size_t)batch * p->out_h + out_y) * p->out_w + out_x) * p->out_c;
        for (c0 = 0; c0 < p->in_c; c0 += TL_DW_BLOCK) {
          const int32_t n_c = TL_MIN(TL_DW_BLOCK, p->in_c - c0);
          for (c = 0; c < n_c; ++c) acc[c] = bias ? bias[c0 + c] : 0;
          for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
            const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
            if (in_y < 0 || in_y >= p->in_h) continue;
            for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
              const int32_t in_x = in_x_origin + p->dilation_w * filter_x;
              const int8_t *x;
              const int8_t *w;
              if (in_x < 0 || in_x >= p->in_w) continue;
              x = input + (((size_t)batch * p->in_h + in_y) * p->in_w + in_x) * p->in_c + c0;
              w = filter + ((size_t)filter_y * p->filter_w + filter_x) * p->out_c + c0;
              for (c = 0; c < n_c; ++c) acc[c] += (int32_t)w[c] * ((int32_t)x[c] + p->input_offset);
            }
          }
          for (c = 0; c < n_c; ++c) {
            const int32_t v = tl_mbqm(acc[c], multiplier[c0 + c], shift[c0 + c]) + p->output_offset;
            out_px[c0 + c] = tl_clamp_s8(v, p->act_min, p->act_max);
          }
        }
      }
    }
  }
}

void tl_depthwise_conv2d_s8(const tl_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output) {
  int32_t batch, out_y, out_x, in_channel, m, filter_y, filter_x;
  if (p->depth_multiplier == 1) {
    tl_depthwise_dm1_s8(p, input, filter, bias, multiplier, shift, output);
    return;
  }
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->out_h; ++out_y) {
      const int32_t in_y_origin = out_y * p->stride_h - p->pad_h;
      for (out_x = 0; out_x < p->out_w; ++out_x) {
        const int32_t in_x_origin = out_x * p->stride_w - p->pad_w;
        for (in_channel = 0; in_channel < p->in_c; ++in_channel) {
          for (m = 0; m < p->depth_multiplier; ++m) {
            const int32_t out_channel = m + in_channel * p->depth_multiplier;
            int32_t acc = 0;
            for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
              const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
              if (in_y < 0 || in_y >= p->in_h) continue;
              for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
                const int32_t in_x = in_x_origin + p->dilation_w * filter_x;
                int32_t x, w;
                if (in_x < 0 || in_x >= p->in_w) continue;
                x = input[(((size_t)batch * p->in_h + in_y) * p->in_w + in_x) * p->in_c +
                          in_channel];
                w = filter[((size_t)filter_y * p->filter_w + filter_x) * p->out_c + out_channel];
                acc += w * (x + p->input_offset);
              }
            }
            if (bias) acc += bias[out_channel];
            acc = tl_mbqm(acc, multiplier[out_channel], shift[out_channel]);
            acc += p->output_offset;
            output[(((size_t)batch * p->out_h + out_y) * p->out_w + out_x) * p->out_c +
                   out_channel] = tl_clamp_s8(acc, p->act_min, p->act_max);
          }
        }
      }
    }
  }
}

void tl_fully_connected_s8(const tl_fc_params_t *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output) {
  int32_t batch, out_c, d;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *x = input + (size_t)batch * p->accum_depth;
    for (out_c = 0; out_c < p->output_depth; ++out_c) {
      const int8_t *w = filter + (size_t)out_c * p->accum_depth;
      const int32_t q = p->per_channel ? out_c : 0;
      int32_t acc = 0;
      if (p->filter_offset == 0 && p->input_offset == 0) {
        /* offsets folded into the bias at generation time: a plain dot product */
        for (d = 0; d < p->accum_depth; ++d) acc += (int32_t)w[d] * (int32_t)x[d];
      } else {
        for (d = 0; d < p->accum_depth; ++d) {
          acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
        }
      }
      if (bias) acc += bias[out_c];
      acc = tl_mbqm(acc, multiplier[q], shift[q]);
      acc += p->output_offset;
      output[(size_t)batch * p->output_depth + out_c] = tl_clamp_s8(acc, p->act_min, p->act_max);
    }
  }
}

static void tl_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output,
                       int is_max) {
  int32_t batch, out_y, out_x, channel, fy, fx;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->out_h; ++out_y) {
      const int32_t in_y_origin = out_y * p->stride_h - p->pad_h;
      const int32_t fy_start = TL_MAX(0, -in_y_origin);
      const int32_t fy_end = TL_MIN(p->filter_h, p->in_h - in_y_origin);
      for (out_x = 0; out_x < p->out_w; ++out_x) {
        const int32_t in_x_origin = out_x * p->stride_w - p->pad_w;
        const int32_t fx_start = TL_MAX(0, -in_x_origin);
        const int32_t fx_end = TL_MIN(p->filter_w, p->in_w - in_x_origin);
        for (channel = 0; channel < p->channels; ++channel) {
          int32_t acc = is_max ? -128 : 0;
          int32_t count = 0;
          for (fy = fy_start; fy < fy_end; ++fy) {
            for (fx = fx_start; fx < fx_end; ++fx) {
              const int32_t v = input[(((size_t)batch * p->in_h + in_y_origin + fy) * p->in_w +
                                       in_x_origin + fx) * p->channels + channel];
              if (is_max) {
                acc = TL_MAX(acc, v);
              } else {
                acc += v;
              }
              ++count;
            }
          }
          if (!is_max && count > 0) {
            /* round to nearest, halves away from zero */
            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          }
          output[(((size_t)batch * p->out_h + out_y) * p->out_w + out_x) * p->channels +
                 channel] = tl_clamp_s8(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

void tl_avg_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output) {
  tl_pool_s8(p, input, output, 0);
}

void tl_max_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output) {
  tl_pool_s8(p, input, output, 1);
}

void tl_mean_s8(const tl_mean_params_t *p, const int8_t *input, int8_t *output) {
  /* sum(x - Zx) over the reduced axes, then one requantization whose multiplier already
   * includes 1/reduced (folded at generation time, as TFLM's QuantizedMeanOrSum does). */
  int32_t o, r, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->inner; ++i) {
      int32_t acc = 0;
      for (r = 0; r < p->reduced; ++r) {
        acc += (int32_t)input[((size_t)o * p->reduced + r) * p->inner + i];
      }
      acc -= p->input_zero_point * p->reduced;
      acc = tl_mbqm(acc, p->multiplier, p->shift) + p->output_zero_point;
      output[(size_t)o * p->inner + i] = tl_clamp_s8(acc, -128, 127);
    }
  }
}

/* Walk the output index space of a broadcast binary op; calls op for each element. */
#define TL_BROADCAST_LOOP(p, body)                                                      \
  do {                                                                                  \
    int32_t idx[TL_MAX_DIMS] = {0, 0, 0, 0, 0, 0};                                      \
    int32_t total = 1, n, d;                                                            \
    for (d = 0; d < (p)->n_dims; ++d) total *= (p)->out_shape[d];                       \
    for (n = 0; n < total; ++n) {                                                       \
      int32_t off1 = 0, off2 = 0;                                                       \
      for (d = 0; d < (p)->n_dims; ++d) {                                               \
        off1 += idx[d] * (p)->in1_strides[d];                                           \
        off2 += idx[d] * (p)->in2_strides[d];                                           \
      }                                                                                 \
      body;                                                                             \
      for (d = (p)->n_dims - 1; d >= 0; --d) {                                          \
        if (++idx[d] < (p)->out_shape[d]) break;                                        \
        idx[d] = 0;                                                                     \
      }                                                                                 \
    }                                                                                   \
  } while (0)

static int8_t tl_add_one(const tl_binary_params_t *p, int32_t a, int32_t b) {
  const int32_t x1 = (a + p->input1_offset) * (1 << p->left_shift);
  const int32_t x2 = (b + p->input2_offset) * (1 << p->left_shift);
  /* each input rescaled to 2*max(s1,s2), summed, then rescaled to the output */
  const int32_t s1 = tl_mbqm(x1, p->input1_multiplier, p->input1_shift);
  const int32_t s2 = tl_mbqm(x2, p->input2_multiplier, p->input2_shift);
  const int32_t out = tl_mbqm(s1 + s2, p->output_multiplier, p->output_shift) + p->output_offset;
  return tl_clamp_s8(out, p->act_min, p->act_max);
}

void tl_add_s8(const tl_binary_params_t *p, const int8_t *input1, const int8_t *input2,
               int8_t *output) {
  TL_BROADCAST_LOOP(p, output[n] = tl_add_one(p, input1[off1], input2[off2]));
}

static int8_t tl_mul_one(const tl_binary_params_t *p, int32_t a, int32_t b) {
  const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
  const int32_t out = p->output_offset + tl_mbqm(prod, p->output_multiplier, p->output_shift);
  return tl_clamp_s8(out, p->act_min, p->act_max);
}

void tl_mul_s8(const tl_binary_params_t *p, const int8_t *input1, const int8_t *input2,
               int8_t *output) {
  TL_BROADCAST_LOOP(p, output[n] = tl_mul_one(p, input1[off1], input2[off2]));
}

void tl_requantize_s8(const tl_requant_params_t *p, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = (int32_t)input[i] - p->input_zero_point;
    output[i] = tl_clamp_s8(tl_mbqm(x, p->multiplier, p->shift) + p->output_zero_point, -128, 127);
  }
}

/* ---- gemmlowp fixed point: exp(x) for x <= 0 and 1/(1+x) for x in [0,1) ------------------ */

static int32_t tl_fp_mul(int32_t a, int32_t b) { return tl_srdhm(a, b); }

static int32_t tl_fp_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static int32_t tl_fp_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* SaturatingRoundingMultiplyByPOT with a compile-time-like exponent. */
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

/* exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor series around -1/8). */
static int32_t tl_exp_quarter(int32_t a) {
  const int32_t constant_term = 1895147668;     /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883;  /* 1/3 */
  const int32_t x = tl_fp_add(a, 1 << 28);      /* a + 1/8 */
  const int32_t x2 = tl_fp_mul(x, x);
  const int32_t x3 = tl_fp_mul(x2, x);
  const int32_t x4 = tl_fp_mul(x2, x2);
  const int32_t x4_over_4 = tl_fp_mul_pot(x4, -2);
  const int32_t poly =
      tl_fp_mul_pot(tl_fp_add(tl_fp_mul(tl_fp_add(x4_over_4, x3), constant_1_over_3), x2), -1);
  return tl_fp_add(constant_term, tl_fp_mul(constant_term, tl_fp_add(x, poly)));
}

/* exp(a) for a <= 0; a has `integer_bits` integer bits, the result is Q0.31. */
static int32_t tl_exp_on_negative_values(int32_t a, int integer_bits) {
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                         39332535,   720401,     242};
  const int fractional_bits = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = tl_fp_sub(a & mask, one_quarter);
  int32_t result = tl_exp_quarter(tl_fp_mul_pot(a_mod_quarter_minus_one_quarter, integer_bits));
  const int32_t remainder = tl_fp_sub(a_mod_quarter_minus_one_quarter, a);
  int exponent;
  /* barrel shifter: multiply by exp(-2^k) for each set bit of the remainder */
  for (exponent = -2; exponent <= 4; ++exponent) {
    if (integer_bits > exponent) {
      const int shift_amount = fractional_bits + exponent;
      if (remainder & ((int32_t)1 << shift_amount)) {
        result = tl_fp_mul(result, multipliers[exponent + 2]);
      }
    }
  }
  if (integer_bits > 5) {
    const int32_t clamp = -((int32_t)1 << (36 - integer_bits)); /* -32.0 */
    if (a < clamp) result = 0;
  }
  if (a == 0) result = TL_INT32_MAX; /* One() in Q0.31 */
  return result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, 3 iterations). */
static int32_t tl_one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + TL_INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  const int32_t constant_48_over_17 = 1515870810;
  const int32_t constant_neg_32_over_17 = -1010580540;
  const int32_t f2_one = (int32_t)1 << 29; /* 1.0 in Q2.29 */
  int32_t x = tl_fp_add(constant_48_over_17, tl_fp_mul(half_denominator, constant_neg_32_over_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = tl_fp_mul(half_denominator, x);
    const int32_t one_minus = tl_fp_sub(f2_one, half_denominator_times_x);
    x = tl_fp_add(x, tl_fp_mul_pot(tl_fp_mul(x, one_minus), 2));
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

void tl_softmax_s8(const tl_softmax_params_t *p, const int8_t *input, int8_t *output) {
  /* Differences are Q5.26, the sum of exps Q12.19 (TFLM reference softmax for int8). */
  int32_t i, c;
  for (i = 0; i < p->outer; ++i) {
    const int8_t *x = input + (size_t)i * p->depth;
    int8_t *y = output + (size_t)i * p->depth;
    int32_t max_in_row = -128;
    int32_t sum_of_exps = 0;
    int headroom_plus_one, num_bits_over_unit, exponent;
    int32_t shifted_sum_minus_one, shifted_scale;
    for (c = 0; c < p->depth; ++c) max_in_row = TL_MAX(max_in_row, x[c]);
    for (c = 0; c < p->depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t scaled = tl_mbqm(diff, p->input_multiplier, p->input_left_shift);
        sum_of_exps = tl_fp_add(sum_of_exps, tl_fp_mul_pot(tl_exp_on_negative_values(scaled, 5), -12));
      }
    }
    headroom_plus_one = tl_clz32((uint32_t)sum_of_exps);
    num_bits_over_unit = 12 - headroom_plus_one;
    shifted_sum_minus_one =
        (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
    shifted_scale = tl_one_over_one_plus_x(shifted_sum_minus_one);
    exponent = num_bits_over_unit + 31 - 8;
    for (c = 0; c < p->depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t scaled = tl_mbqm(diff, p->input_multiplier, p->input_left_shift);
        const int32_t exp_in_0 = tl_exp_on_negative_values(scaled, 5);
        const int32_t unsat = tl_rdbpot(tl_fp_mul(shifted_scale, exp_in_0), exponent);
        y[c] = tl_clamp_s8(unsat - 128, -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
}

/* logistic(a) for a in Q4.27, result Q0.31 (gemmlowp::logistic). */
static int32_t tl_logistic_q4(int32_t a) {
  const int32_t abs_a = a > 0 ? a : (int32_t)(0u - (uint32_t)a);
  const int32_t pos = tl_one_over_one_plus_x(tl_exp_on_negative_values((int32_t)(0u - (uint32_t)abs_a), 4));
  if (a == 0) return 1 << 30;
  return a > 0 ? pos : tl_fp_sub(TL_INT32_MAX, pos);
}

void tl_logistic_s8(const tl_logistic_params_t *p, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = (int32_t)input[i] - p->input_zero_point;
    if (x <= -p->input_range_radius) {
      output[i] = -128;
    } else if (x >= p->input_range_radius) {
      output[i] = 127;
    } else {
      const int32_t in_q4 = tl_mbqm(x, p->input_multiplier, p->input_left_shift);
      const int32_t out_q0 = tl_logistic_q4(in_q4);
      output[i] = tl_clamp_s8(tl_rdbpot(out_q0, 23) - 128, -128, 127);
    }
  }
}

void tl_copy_s8(const int8_t *input, int8_t *output, int32_t size) {
  int32_t i;
  if (input == output) return;
  /* forward copy is safe when output starts at or before input (in-place views) */
  if (output < input) {
    for (i = 0; i < size; ++i) output[i] = input[i];
  } else {
    for (i = size - 1; i >= 0; --i) output[i] = input[i];
  }
}

void tl_pad_s8(const tl_pad_params_t *p, const int8_t *input, int8_t *output) {
  int32_t out_shape[4], d, b, y, x, c;
  size_t o = 0;
  for (d = 0; d < 4; ++d) out_shape[d] = p->before[d] + p->in_shape[d] + p->after[d];
  for (b = 0; b < out_shape[0]; ++b) {
    for (y = 0; y < out_shape[1]; ++y) {
      for (x = 0; x < out_shape[2]; ++x) {
        for (c = 0; c < out_shape[3]; ++c) {
          const int32_t ib = b - p->before[0], iy = y - p->before[1];
          const int32_t ix = x - p->before[2], ic = c - p->before[3];
          if (ib < 0 || ib >= p->in_shape[0] || iy < 0 || iy >= p->in_shape[1] || ix < 0 ||
              ix >= p->in_shape[2] || ic < 0 || ic >= p->in_shape[3]) {
            output[o++] = (int8_t)p->pad_value;
          } else {
            output[o++] = input[(((size_t)ib * p->in_shape[1] + iy) * p->in_shape[2] + ix) *
                                    p->in_shape[3] + ic];
          }
        }
      }
    }
  }
}

void tl_concat_s8(int32_t n_inputs, const int8_t *const *inputs, const int32_t *sizes,
                  int32_t outer, int8_t *output) {
  int32_t k, i, j;
  size_t o = 0;
  for (k = 0; k < outer; ++k) {
    for (i = 0; i < n_inputs; ++i) {
      const int8_t *src = inputs[i] + (size_t)k * sizes[i];
      for (j = 0; j < sizes[i]; ++j) output[o++] = src[j];
    }
  }
}
