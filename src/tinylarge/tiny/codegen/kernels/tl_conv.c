/* tl_conv.c - convolutions and fully connected layers (see tl_kernels.h).
 *
 * Integer arithmetic of TFLM's reference kernels (integer_ops/conv.h, depthwise_conv.h,
 * fully_connected.h, transpose_conv.h; read, not copied): int32 accumulation of w * (x - Zx),
 * bias, per-channel requantization, output zero point, clamp. The fast kernels reorder only
 * integer additions (exact) and take the input offset out of the loop through the folded bias.
 *
 * DSP layout (ARMv7E-M): a pair of output pixels is expanded once into int16 lanes in the order
 * SXTB16 produces them, [p0 (x0,x2)][p0 (x1,x3)][p1 (x0,x2)][p1 (x1,x3)] per 4 inputs, and is
 * then reused by every output channel: per 4 inputs and 2 channels, 2 weight loads, 4 SXTB16 and
 * 8 SMLAD give 16 multiply-accumulates (the tiling of CMSIS-NN's arm_nn_mat_mult_nt_t_s8, with
 * the input side widened once instead of once per channel pair).
 */
#include "tl_arith.h"
#include "tl_kernels.h"

/* ---- CONV_2D ------------------------------------------------------------------------------ */

/* The input patch of output pixel `px` (flattened over batch, y, x) as k4 int8 values:
 * taps outside the input read the zero point (cancelled by the folded bias), the tail up to k4
 * is 0 (its weights are 0). */
static void tl_gather_patch(const tl_conv_params_t *p, const int8_t *input, int32_t px,
                            int8_t *patch) {
  const int32_t per_image = p->out_h * p->out_w;
  const int32_t batch = px / per_image;
  const int32_t out_y = (px - batch * per_image) / p->out_w;
  const int32_t out_x = px - batch * per_image - out_y * p->out_w;
  const int32_t in_y0 = out_y * p->stride_h - p->pad_h;
  const int32_t in_x0 = out_x * p->stride_w - p->pad_w;
  const int32_t row = p->filter_w * p->in_c;
  int32_t fy, fx, i = 0;
  for (fy = 0; fy < p->filter_h; ++fy) {
    const int32_t in_y = in_y0 + fy * p->dilation_h;
    const int8_t *src = input + ((size_t)batch * p->in_h + in_y) * p->in_w * p->in_c;
    if (in_y < 0 || in_y >= p->in_h) {
      memset(patch + i, p->pad_value, (size_t)row);
      i += row;
      continue;
    }
    if (p->dilation_w == 1 && in_x0 >= 0 && in_x0 + p->filter_w <= p->in_w) {
      const int8_t *s8 = src + (size_t)in_x0 * p->in_c;
      int32_t j = 0;
      for (; j + 4 <= row; j += 4) memcpy(patch + i + j, s8 + j, 4); /* one LDR/STR each */
      for (; j < row; ++j) patch[i + j] = s8[j];
      i += row;
      continue;
    }
    for (fx = 0; fx < p->filter_w; ++fx) {
      const int32_t in_x = in_x0 + fx * p->dilation_w;
      if (in_x < 0 || in_x >= p->in_w) {
        memset(patch + i, p->pad_value, (size_t)p->in_c);
      } else {
        memcpy(patch + i, src + (size_t)in_x * p->in_c, (size_t)p->in_c);
      }
      i += p->in_c;
    }
  }
  memset(patch + i, 0, (size_t)(p->k4 - i));
}

static int32_t tl_is_pointwise(const tl_conv_params_t *p) {
  return p->filter_h == 1 && p->filter_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
         p->pad_h == 0 && p->pad_w == 0 && p->in_h == p->out_h && p->in_w == p->out_w &&
         (p->in_c & 3) == 0;
}

#if TL_DSP
/* Widen two k4-long int8 rows into the interleaved int16 layout described at the top. */
static void tl_expand_pair(const int8_t *a, const int8_t *b, int32_t k4, uint32_t *dst) {
  int32_t q;
  for (q = 0; q < k4; q += 4) {
    const uint32_t va = tl_load32(a + q), vb = tl_load32(b + q);
    dst[0] = (uint32_t)__sxtb16(va);
    dst[1] = (uint32_t)tl_sxtb16_ror8(va);
    dst[2] = (uint32_t)__sxtb16(vb);
    dst[3] = (uint32_t)tl_sxtb16_ror8(vb);
    dst += 4;
  }
}

/* acc (p0 c0, p0 c1, p1 c0, p1 c1) += dot products over n_quads * 4 inputs. Both operands are
 * int16 pairs in the same lane order, so each SMLAD is two exact multiply-accumulates. Written
 * as one asm loop because GCC splits the paired loads (LDRD) it needs into single loads: per 4
 * inputs 4 LDRD + 8 SMLAD (0.75 instructions per MAC, plus the loop branch). */
static inline void tl_dot_2x2(const uint32_t *x, const uint32_t *w, int32_t n_quads,
                              int32_t *acc) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  uint32_t x0, x1, w0, w1, w2, w3;
  if (n_quads <= 0) return;
  __asm__ volatile(
      "1:\n\t"
      "ldrd %[x0], %[x1], [%[x]], #8\n\t"
      "ldrd %[w0], %[w1], [%[w]], #8\n\t"
      "ldrd %[w2], %[w3], [%[w]], #8\n\t"
      "smlad %[a00], %[x0], %[w0], %[a00]\n\t"
      "smlad %[a00], %[x1], %[w1], %[a00]\n\t"
      "smlad %[a01], %[x0], %[w2], %[a01]\n\t"
      "smlad %[a01], %[x1], %[w3], %[a01]\n\t"
      "ldrd %[x0], %[x1], [%[x]], #8\n\t"
      "smlad %[a10], %[x0], %[w0], %[a10]\n\t"
      "smlad %[a10], %[x1], %[w1], %[a10]\n\t"
      "smlad %[a11], %[x0], %[w2], %[a11]\n\t"
      "smlad %[a11], %[x1], %[w3], %[a11]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [x] "+r"(x),
        [w] "+r"(w), [n] "+r"(n_quads), [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0),
        [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
      :
      : "cc", "memory");
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}
#endif

void tl_conv_s8(const tl_conv_params_t *p, const int8_t *input, const uint32_t *filter,
                const int32_t *bias, const int32_t *rq, int8_t *output, void *scratch) {
  const int32_t n_px = p->batches * p->out_h * p->out_w;
  const int32_t k4 = p->k4, in_c = p->in_c, out_c = p->out_c;
  const int32_t lo = p->act_min, hi = p->act_max, rev = p->reverse;
  const int32_t full = lo == -128 && hi == 127;
  const int32_t pointwise = tl_is_pointwise(p);
  int8_t *patch = (int8_t *)scratch + 4 * k4; /* 2 gathered rows after the int16 area */
  int32_t i, c;
  for (i = 0; i < n_px; i += 2) {
    const int32_t two = i + 1 < n_px;
    const int32_t px0 = rev ? n_px - 1 - i : i;
    const int32_t px1 = two ? (rev ? px0 - 1 : px0 + 1) : px0;
    const int8_t *a;
    const int8_t *b;
    int8_t *out0 = output + (size_t)px0 * out_c;
    int8_t *out1 = output + (size_t)px1 * out_c;
    if (pointwise) {
#if TL_DSP
      a = input + (size_t)px0 * in_c; /* widened into the scratch below */
      b = input + (size_t)px1 * in_c;
#else
      /* copied first, so the outputs may overwrite these pixels */
      memcpy(patch, input + (size_t)px0 * in_c, (size_t)k4);
      memcpy(patch + k4, input + (size_t)px1 * in_c, (size_t)k4);
      a = patch;
      b = patch + k4;
#endif
    } else {
      tl_gather_patch(p, input, px0, patch);
      if (two) tl_gather_patch(p, input, px1, patch + k4);
      a = patch;
      b = two ? patch + k4 : patch;
    }
#if TL_DSP
    tl_expand_pair(a, b, k4, (uint32_t *)scratch);
#endif
    /* every input of both pixels has been read: the outputs may now overwrite them */
    for (c = 0; c < out_c; c += 2) {
      const int32_t *q = rq + 4 * c; /* rq and bias are padded to an even channel count */
      int32_t acc[4];
      int32_t y00, y01, y10, y11;
      acc[0] = acc[2] = bias[c];
      acc[1] = acc[3] = bias[c + 1];
#if TL_DSP
      tl_dot_2x2((const uint32_t *)scratch, filter + (size_t)c * (k4 >> 1), k4 >> 2, acc);
#else
      {
        /* int16 weights, per 4 inputs [c0: w0 w2 w1 w3][c1: w0 w2 w1 w3] */
        const int16_t *w = (const int16_t *)(filter + (size_t)c * (k4 >> 1));
        int32_t k;
        for (k = 0; k < k4; k += 4) {
          const int32_t x0 = a[k], x1 = a[k + 1], x2 = a[k + 2], x3 = a[k + 3];
          const int32_t y0 = b[k], y1 = b[k + 1], y2 = b[k + 2], y3 = b[k + 3];
          acc[0] += w[0] * x0 + w[2] * x1 + w[1] * x2 + w[3] * x3;
          acc[1] += w[4] * x0 + w[6] * x1 + w[5] * x2 + w[7] * x3;
          acc[2] += w[0] * y0 + w[2] * y1 + w[1] * y2 + w[3] * y3;
          acc[3] += w[4] * y0 + w[6] * y1 + w[5] * y2 + w[7] * y3;
          w += 8;
        }
      }
#endif
      /* all four results before any store: an int8 store may alias q, which is then re-read */
      y00 = tl_act(tl_rq(acc[0], q), full, lo, hi);
      y10 = tl_act(tl_rq(acc[2], q), full, lo, hi);
      y01 = tl_act(tl_rq(acc[1], q + 4), full, lo, hi);
      y11 = tl_act(tl_rq(acc[3], q + 4), full, lo, hi);
      out0[c] = (int8_t)y00;
      if (two) out1[c] = (int8_t)y10;
      if (c + 1 < out_c) {
        out0[c + 1] = (int8_t)y01;
        if (two) out1[c + 1] = (int8_t)y11;
      }
    }
  }
}

/* ---- FULLY_CONNECTED ---------------------------------------------------------------------- */

#if TL_DSP
/* acc[0..3] += 4 packed int8 rows . x over n_quads * 4 inputs: per 4 inputs one load and two
 * SXTB16 of x, two LDRD of weights, 8 SXTB16 and 8 SMLAD (asm for the same reason as
 * tl_dot_2x2: the paired, post-incremented loads). */
static inline void tl_dot_4x1(const int8_t *x, const uint32_t *w, int32_t n_quads, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  uint32_t xv, xo, w0, w1, t;
  if (n_quads <= 0) return;
  __asm__ volatile(
      "1:\n\t"
      "ldr %[xv], [%[x]], #4\n\t"
      "ldrd %[w0], %[w1], [%[w]], #8\n\t"
      "sxtb16 %[xo], %[xv], ror #8\n\t"
      "sxtb16 %[xv], %[xv]\n\t"
      "sxtb16 %[t], %[w0]\n\t"
      "sxtb16 %[w0], %[w0], ror #8\n\t"
      "smlad %[a0], %[xv], %[t], %[a0]\n\t"
      "smlad %[a0], %[xo], %[w0], %[a0]\n\t"
      "sxtb16 %[t], %[w1]\n\t"
      "sxtb16 %[w1], %[w1], ror #8\n\t"
      "smlad %[a1], %[xv], %[t], %[a1]\n\t"
      "smlad %[a1], %[xo], %[w1], %[a1]\n\t"
      "ldrd %[w0], %[w1], [%[w]], #8\n\t"
      "sxtb16 %[t], %[w0]\n\t"
      "sxtb16 %[w0], %[w0], ror #8\n\t"
      "smlad %[a2], %[xv], %[t], %[a2]\n\t"
      "smlad %[a2], %[xo], %[w0], %[a2]\n\t"
      "sxtb16 %[t], %[w1]\n\t"
      "sxtb16 %[w1], %[w1], ror #8\n\t"
      "smlad %[a3], %[xv], %[t], %[a3]\n\t"
      "smlad %[a3], %[xo], %[w1], %[a3]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w),
        [n] "+r"(n_quads), [xv] "=&r"(xv), [xo] "=&r"(xo), [w0] "=&r"(w0), [w1] "=&r"(w1),
        [t] "=&r"(t)
      :
      : "cc", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

void tl_fully_connected_s8(const tl_fc_params_t *p, const int8_t *input, const uint32_t *filter,
                           const int32_t *bias, const int32_t *rq, int8_t *output) {
  const int32_t k4 = p->k4, depth = p->accum_depth, n_out = p->output_depth;
  const int32_t lo = p->act_min, hi = p->act_max, full = lo == -128 && hi == 127;
  const int32_t rq_step = p->per_channel ? 4 : 0;
  int32_t batch, r, j;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *x = input + (size_t)batch * depth;
    int8_t *y = output + (size_t)batch * n_out;
    const int32_t *q = rq;
    for (r = 0; r < n_out; r += 4) {
      const uint32_t *w = filter + (size_t)r * (k4 >> 2);
      int32_t acc[4], out[4];
      for (j = 0; j < 4; ++j) acc[j] = bias[r + j]; /* the bias is padded to 4 */
#if TL_DSP
      tl_dot_4x1(x, w, depth >> 2, acc);
      if (depth & 3) { /* the partial last quad, copied: no byte past x is read */
        int8_t tail[4] = {0, 0, 0, 0};
        memcpy(tail, x + (depth & ~3), (size_t)(depth & 3));
        tl_dot_4x1(tail, w + (depth >> 2) * 4, 1, acc);
      }
#else
      {
        const int8_t *wb = (const int8_t *)w;
        int32_t k;
        for (k = 0; k < k4; k += 4) {
          for (j = 0; j < 4 && k + j < depth; ++j) {
            const int32_t xv = x[k + j];
            acc[0] += wb[j] * xv;
            acc[1] += wb[4 + j] * xv;
            acc[2] += wb[8 + j] * xv;
            acc[3] += wb[12 + j] * xv;
          }
          wb += 16;
        }
      }
#endif
      out[0] = tl_act(tl_rq(acc[0], q), full, lo, hi);
      out[1] = tl_act(tl_rq(acc[1], q + rq_step), full, lo, hi);
      out[2] = tl_act(tl_rq(acc[2], q + 2 * rq_step), full, lo, hi);
      out[3] = tl_act(tl_rq(acc[3], q + 3 * rq_step), full, lo, hi);
      q += 4 * rq_step;
      if (r + 4 <= n_out) {
        y[r] = (int8_t)out[0];
        y[r + 1] = (int8_t)out[1];
        y[r + 2] = (int8_t)out[2];
        y[r + 3] = (int8_t)out[3];
      } else {
        for (j = 0; r + j < n_out; ++j) y[r + j] = (int8_t)out[j];
      }
    }
  }
}

/* ---- DEPTHWISE_CONV_2D -------------------------------------------------------------------- */

/* First and one-past-last filter index whose input coordinate origin + k * dilation lies in
 * [0, size). */
static void tl_tap_range(int32_t origin, int32_t dilation, int32_t k, int32_t size,
                         int32_t *first, int32_t *end) {
  int32_t f = 0, e = k;
  while (f < k && origin + f * dilation < 0) ++f;
  while (e > f && origin + (e - 1) * dilation >= size) --e;
  *first = f;
  *end = e;
}

#if TL_DSP
/* One tap for 4 channels: (x + offset) widened to int16 lanes (x0, x2), (x1, x3) times the
 * weights stored in the same lane order; SMLABB/SMLATT pick the matching halves. */
#define TL_DW_TAP(XP, WP)                                   \
  do {                                                      \
    const uint32_t v_ = tl_load32(XP);                      \
    const int16x2_t xe_ = __sxtab16(off2, (int8x4_t)v_);    \
    const int16x2_t xo_ = tl_sxtab16_ror8(off2, v_);        \
    const int16x2_t we_ = (int16x2_t)(WP)[0];               \
    const int16x2_t wo_ = (int16x2_t)(WP)[1];               \
    a0 = __smlabb(xe_, we_, a0);                            \
    a2 = __smlatt(xe_, we_, a2);                            \
    a1 = __smlabb(xo_, wo_, a1);                            \
    a3 = __smlatt(xo_, wo_, a3);                            \
  } while (0)
#endif

void tl_depthwise_s8(const tl_dw_params_t *p, const int8_t *input, const uint32_t *filter,
                     const int32_t *bias, const int32_t *rq, int8_t *output) {
  const int32_t ch = p->channels, dm = p->depth_multiplier, out_c = ch * dm;
  const int32_t in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
  const int32_t fh = p->filter_h, fw = p->filter_w, taps = fh * fw;
  const int32_t lo = p->act_min, hi = p->act_max, off = p->input_offset;
  const int32_t full = lo == -128 && hi == 127;
  const int32_t n_px = p->batches * out_h * out_w;
  const size_t x_step = (size_t)p->dilation_w * ch;        /* bytes between taps along x */
  const size_t y_step = (size_t)p->dilation_h * in_w * ch; /* and along y */
  int32_t i, c, ty, tx;
  int32_t batch = p->reverse ? p->batches - 1 : 0;
  int32_t out_y = p->reverse ? out_h - 1 : 0;
  int32_t out_x = p->reverse ? out_w - 1 : 0;
#if TL_DSP
  const int16x2_t off2 = (int16x2_t)(((uint32_t)(uint16_t)off) | ((uint32_t)(uint16_t)off << 16));
#endif
  for (i = 0; i < n_px; ++i) {
    const int32_t in_y0 = out_y * p->stride_h - p->pad_h;
    const int32_t in_x0 = out_x * p->stride_w - p->pad_w;
    int32_t fy0, fy1, fx0, fx1, ntx;
    const int8_t *x0;
    int8_t *out_px = output + (((size_t)batch * out_h + out_y) * out_w + out_x) * out_c;
    tl_tap_range(in_y0, p->dilation_h, fh, in_h, &fy0, &fy1);
    tl_tap_range(in_x0, p->dilation_w, fw, in_w, &fx0, &fx1);
    ntx = fx1 - fx0;
#if TL_DSP
    /* rows x columns of a 3x3 window (dilation 1), 0 for the general loop */
    const int32_t kind = fh == 3 && fw == 3 && x_step == (size_t)ch && y_step == (size_t)in_w * ch &&
                   (fy1 - fy0 >= 2) && ntx >= 2
               ? (fy1 - fy0) * 10 + ntx
               : 0;
#endif
    /* the first valid tap of this pixel */
    x0 = input + (((size_t)batch * in_h + in_y0 + fy0 * p->dilation_h) * in_w + in_x0 +
                  fx0 * p->dilation_w) * ch;
#if TL_DSP
    for (c = 0; dm == 1 && c + 4 <= ch; c += 4) {
      const uint32_t *wg = filter + (size_t)(c >> 2) * taps * 2 + (fy0 * fw + fx0) * 2;
      const int8_t *xr = x0 + c;
      int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
      int32_t y0, y1, y2, y3;
      switch (kind) { /* 3x3 windows, whole or cut by the border: unrolled */
        case 33:
          TL_DW_TAP(xr, wg);
          TL_DW_TAP(xr + ch, wg + 2);
          TL_DW_TAP(xr + 2 * ch, wg + 4);
          TL_DW_TAP(xr + y_step, wg + 6);
          TL_DW_TAP(xr + y_step + ch, wg + 8);
          TL_DW_TAP(xr + y_step + 2 * ch, wg + 10);
          TL_DW_TAP(xr + 2 * y_step, wg + 12);
          TL_DW_TAP(xr + 2 * y_step + ch, wg + 14);
          TL_DW_TAP(xr + 2 * y_step + 2 * ch, wg + 16);
          break;
        case 23:
          TL_DW_TAP(xr, wg);
          TL_DW_TAP(xr + ch, wg + 2);
          TL_DW_TAP(xr + 2 * ch, wg + 4);
          TL_DW_TAP(xr + y_step, wg + 6);
          TL_DW_TAP(xr + y_step + ch, wg + 8);
          TL_DW_TAP(xr + y_step + 2 * ch, wg + 10);
          break;
        case 32:
          TL_DW_TAP(xr, wg);
          TL_DW_TAP(xr + ch, wg + 2);
          TL_DW_TAP(xr + y_step, wg + 6);
          TL_DW_TAP(xr + y_step + ch, wg + 8);
          TL_DW_TAP(xr + 2 * y_step, wg + 12);
          TL_DW_TAP(xr + 2 * y_step + ch, wg + 14);
          break;
        case 22:
          TL_DW_TAP(xr, wg);
          TL_DW_TAP(xr + ch, wg + 2);
          TL_DW_TAP(xr + y_step, wg + 6);
          TL_DW_TAP(xr + y_step + ch, wg + 8);
          break;
        default:
          for (ty = fy0; ty < fy1; ++ty) {
            const int8_t *xp = xr;
            const uint32_t *wp = wg;
            for (tx = 0; tx < ntx; ++tx) {
              TL_DW_TAP(xp, wp);
              xp += x_step;
              wp += 2;
            }
            xr += y_step;
            wg += fw * 2;
          }
      }
      y0 = tl_act(tl_rq(a0, rq + 4 * c), full, lo, hi);
      y1 = tl_act(tl_rq(a1, rq + 4 * c + 4), full, lo, hi);
      y2 = tl_act(tl_rq(a2, rq + 4 * c + 8), full, lo, hi);
      y3 = tl_act(tl_rq(a3, rq + 4 * c + 12), full, lo, hi);
      out_px[c] = (int8_t)y0;
      out_px[c + 1] = (int8_t)y1;
      out_px[c + 2] = (int8_t)y2;
      out_px[c + 3] = (int8_t)y3;
    }
#else
    c = 0;
#endif
    /* portable path, depth multipliers above 1, and the last channels of a group of fewer
     * than 4 on the DSP path; output channel c reads input channel c / dm */
    for (; c < out_c; ++c) {
      /* channel c sits at lane (c & 1) * 2 + ((c >> 1) & 1) of its group: c0 c2 c1 c3 */
      const int32_t lane = ((c & 1) << 1) + ((c >> 1) & 1);
      const int16_t *wg = (const int16_t *)filter + ((size_t)(c >> 2) * taps + fy0 * fw + fx0) * 4;
      const int8_t *xr = x0 + c / dm;
      int32_t acc = bias[c];
      for (ty = fy0; ty < fy1; ++ty) {
        const int8_t *xp = xr;
        const int16_t *wp = wg + lane;
        for (tx = 0; tx < ntx; ++tx) {
          acc += *wp * (*xp + off);
          xp += x_step;
          wp += 4;
        }
        xr += y_step;
        wg += fw * 4;
      }
      out_px[c] = (int8_t)tl_act(tl_rq(acc, rq + 4 * c), full, lo, hi);
    }
    tl_next_pixel(&batch, &out_y, &out_x, out_h, out_w, p->reverse);
  }
}

/* ---- reference loops ---------------------------------------------------------------------- */

void tl_conv_ref_s8(const tl_conv_ref_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                    int8_t *output) {
  const int32_t groups = p->in_c / p->filter_c;
  const int32_t filters_per_group = p->out_c / groups;
  int32_t batch, out_y, out_x, out_channel, filter_y, filter_x, in_channel;
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
          acc = tl_mbqm(acc, multiplier[out_channel], shift[out_channel]) + p->output_offset;
          output[(((size_t)batch * p->out_h + out_y) * p->out_w + out_x) * p->out_c +
                 out_channel] = tl_clamp_s8(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

void tl_depthwise_ref_s8(const tl_conv_ref_params_t *p, const int8_t *input,
                         const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                         const int32_t *shift, int8_t *output) {
  int32_t batch, out_y, out_x, in_channel, m, filter_y, filter_x;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->out_h; ++out_y) {
      for (out_x = 0; out_x < p->out_w; ++out_x) {
        for (in_channel = 0; in_channel < p->in_c; ++in_channel) {
          for (m = 0; m < p->depth_multiplier; ++m) {
            const int32_t oc = m + in_channel * p->depth_multiplier;
            const int32_t in_x_origin = out_x * p->stride_w - p->pad_w;
            const int32_t in_y_origin = out_y * p->stride_h - p->pad_h;
            int32_t acc = 0;
            for (filter_y = 0; filter_y < p->filter_h; ++filter_y) {
              const int32_t in_y = in_y_origin + p->dilation_h * filter_y;
              for (filter_x = 0; filter_x < p->filter_w; ++filter_x) {
                const int32_t in_x = in_x_origin + p->dilation_w * filter_x;
                if (in_x >= 0 && in_x < p->in_w && in_y >= 0 && in_y < p->in_h) {
                  const int32_t x =
                      input[(((size_t)batch * p->in_h + in_y) * p->in_w + in_x) * p->in_c +
                            in_channel];
                  const int32_t w =
                      filter[((size_t)filter_y * p->filter_w + filter_x) * p->out_c + oc];
                  acc += w * (x + p->input_offset);
                }
              }
            }
            if (bias) acc += bias[oc];
            acc = tl_mbqm(acc, multiplier[oc], shift[oc]) + p->output_offset;
            output[(((size_t)batch * p->out_h + out_y) * p->out_w + out_x) * p->out_c + oc] =
                tl_clamp_s8(acc, p->act_min, p->act_max);
          }
        }
      }
    }
  }
}

void tl_fully_connected_ref_s8(const tl_fc_ref_params_t *p, const int8_t *input,
                               const int8_t *filter, const int32_t *bias,
                               const int32_t *multiplier, const int32_t *shift,
                               int8_t *output) {
  int32_t batch, out_c, d;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *x = input + (size_t)batch * p->accum_depth;
    for (out_c = 0; out_c < p->output_depth; ++out_c) {
      const int8_t *w = filter + (size_t)out_c * p->accum_depth;
      const int32_t q = p->per_channel ? out_c : 0;
      int32_t acc = 0;
      for (d = 0; d < p->accum_depth; ++d) {
        acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
      }
      if (bias) acc += bias[out_c];
      acc = tl_mbqm(acc, multiplier[q], shift[q]) + p->output_offset;
      output[(size_t)batch * p->output_depth + out_c] = tl_clamp_s8(acc, p->act_min, p->act_max);
    }
  }
}

void tl_transpose_conv_s8(const tl_conv_ref_params_t *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, const int32_t *rq, int8_t *output) {
  const int32_t ih = p->in_h, iw = p->in_w, ic = p->in_c, oh = p->out_h, ow = p->out_w;
  const int32_t oc = p->out_c, kh = p->filter_h, kw = p->filter_w;
  const int32_t sh = p->stride_h, sw = p->stride_w, off = p->input_offset;
  const int32_t lo = p->act_min, hi = p->act_max;
  int32_t batch, out_y, out_x, c, fy, fx, k;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *image = input + (size_t)batch * ih * iw * ic;
    for (out_y = 0; out_y < oh; ++out_y) {
      /* input row in_y reaches out_y = in_y * stride - pad + fy: the taps fy = out_y + pad
       * (mod stride), from the largest in_y down */
      const int32_t ty0 = out_y + p->pad_h;
      for (out_x = 0; out_x < ow; ++out_x) {
        const int32_t tx0 = out_x + p->pad_w;
        int8_t *out_px = output + (((size_t)batch * oh + out_y) * ow + out_x) * oc;
        for (c = 0; c < oc; ++c) {
          int32_t acc = bias ? bias[c] : 0;
          for (fy = ty0 % sh; fy < kh; fy += sh) {
            const int32_t in_y = (ty0 - fy) / sh;
            if (in_y < 0) break;
            if (in_y >= ih) continue;
            for (fx = tx0 % sw; fx < kw; fx += sw) {
              const int32_t in_x = (tx0 - fx) / sw;
              const int8_t *x;
              const int8_t *w;
              if (in_x < 0) break;
              if (in_x >= iw) continue;
              x = image + ((size_t)in_y * iw + in_x) * ic;
              w = filter + (((size_t)c * kh + fy) * kw + fx) * ic;
              for (k = 0; k < ic; ++k) acc += ((int32_t)x[k] + off) * w[k];
            }
          }
          if (rq) {
            out_px[c] = tl_rq_clamp(acc, rq + 4 * c, lo, hi);
          } else {
            out_px[c] = tl_clamp_s8(tl_mbqm(acc, multiplier[c], shift[c]) + p->output_offset, lo, hi);
          }
        }
      }
    }
  }
}
