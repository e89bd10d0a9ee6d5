/* tl_pool.c - AVERAGE_POOL_2D, MAX_POOL_2D and MEAN (TFLM reference pooling.h, reduce.h). */
#include "tl_arith.h"
#include "tl_kernels.h"

#define TL_POOL_CHUNK 32

static void tl_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output,
                       int is_max) {
  const int32_t ch = p->channels, in_h = p->in_h, in_w = p->in_w;
  const int32_t out_h = p->out_h, out_w = p->out_w, lo = p->act_min, hi = p->act_max;
  const int32_t n_px = p->batches * out_h * out_w;
  int32_t batch = p->reverse ? p->batches - 1 : 0;
  int32_t out_y = p->reverse ? out_h - 1 : 0;
  int32_t out_x = p->reverse ? out_w - 1 : 0;
  int32_t acc[TL_POOL_CHUNK];
  int32_t i, c0, c, fy, fx;
  for (i = 0; i < n_px; ++i) {
    const int32_t in_y_origin = out_y * p->stride_h - p->pad_h;
    const int32_t fy_start = TL_MAX(0, -in_y_origin);
    const int32_t fy_end = TL_MIN(p->filter_h, in_h - in_y_origin);
    const int32_t in_x_origin = out_x * p->stride_w - p->pad_w;
    const int32_t fx_start = TL_MAX(0, -in_x_origin);
    const int32_t fx_end = TL_MIN(p->filter_w, in_w - in_x_origin);
    const int32_t count = (fy_end - fy_start) * (fx_end - fx_start);
    int8_t *out_px = output + (((size_t)batch * out_h + out_y) * out_w + out_x) * ch;
    /* channels innermost: contiguous bytes, accumulated a chunk at a time */
    for (c0 = 0; c0 < ch; c0 += TL_POOL_CHUNK) {
      const int32_t n = TL_MIN(TL_POOL_CHUNK, ch - c0);
      for (c = 0; c < n; ++c) acc[c] = is_max ? -128 : 0;
      for (fy = fy_start; fy < fy_end; ++fy) {
        const int8_t *px = input + (((size_t)batch * in_h + in_y_origin + fy) * in_w +
                                    in_x_origin + fx_start) * ch + c0;
        for (fx = fx_start; fx < fx_end; ++fx) {
          if (is_max) {
            for (c = 0; c < n; ++c) acc[c] = TL_MAX(acc[c], px[c]);
          } else {
            for (c = 0; c < n; ++c) acc[c] += px[c];
          }
          px += ch;
        }
      }
      for (c = 0; c < n; ++c) {
        int32_t v = acc[c];
        if (!is_max && count > 0) {
          /* round to nearest, halves away from zero */
          v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count;
        }
        out_px[c0 + c] = tl_clamp_s8(v, lo, hi);
      }
    }
    tl_next_pixel(&batch, &out_y, &out_x, out_h, out_w, p->reverse);
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
    const int8_t *block = input + (size_t)o * p->reduced * p->inner;
    for (i = 0; i < p->inner; ++i) {
      int32_t acc = 0;
      for (r = 0; r < p->reduced; ++r) acc += (int32_t)block[(size_t)r * p->inner + i];
      acc -= p->input_zero_point * p->reduced;
      acc = tl_mbqm(acc, p->multiplier, p->shift) + p->output_zero_point;
      output[(size_t)o * p->inner + i] = tl_clamp_s8(acc, -128, 127);
    }
  }
}
