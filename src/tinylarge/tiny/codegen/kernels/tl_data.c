/* tl_data.c - data movement: copies, PAD, CONCATENATION, strided views (STRIDED_SLICE, SLICE,
 * SPLIT, TRANSPOSE) and RESIZE_NEAREST_NEIGHBOR. No arithmetic: the bytes move unchanged. */
#include "tl_arith.h"
#include "tl_kernels.h"

void tl_copy_s8(const int8_t *input, int8_t *output, int32_t size) {
  if (input != output) memmove(output, input, (size_t)size);
}

void tl_pad_s8(const tl_pad_params_t *p, const int8_t *input, int8_t *output) {
  int32_t out_shape[4], d, b, y, x;
  size_t o = 0;
  for (d = 0; d < 4; ++d) out_shape[d] = p->before[d] + p->in_shape[d] + p->after[d];
  for (b = 0; b < out_shape[0]; ++b) {
    const int32_t ib = b - p->before[0];
    for (y = 0; y < out_shape[1]; ++y) {
      const int32_t iy = y - p->before[1];
      for (x = 0; x < out_shape[2]; ++x) {
        const int32_t ix = x - p->before[2];
        if (ib < 0 || ib >= p->in_shape[0] || iy < 0 || iy >= p->in_shape[1] || ix < 0 ||
            ix >= p->in_shape[2]) {
          memset(output + o, p->pad_value, (size_t)out_shape[3]);
        } else {
          const int8_t *src = input + (((size_t)ib * p->in_shape[1] + iy) * p->in_shape[2] + ix) *
                                          p->in_shape[3];
          memset(output + o, p->pad_value, (size_t)p->before[3]);
          memcpy(output + o + p->before[3], src, (size_t)p->in_shape[3]);
          memset(output + o + p->before[3] + p->in_shape[3], p->pad_value, (size_t)p->after[3]);
        }
        o += (size_t)out_shape[3];
      }
    }
  }
}

void tl_concat_s8(int32_t n_inputs, const int8_t *const *inputs, const int32_t *sizes,
                  int32_t outer, int8_t *output) {
  int32_t k, i;
  size_t o = 0;
  for (k = 0; k < outer; ++k) {
    for (i = 0; i < n_inputs; ++i) {
      memmove(output + o, inputs[i] + (size_t)k * sizes[i], (size_t)sizes[i]);
      o += (size_t)sizes[i];
    }
  }
}

void tl_gather_s8(const tl_gather_params_t *p, const int8_t *input, int8_t *output) {
  int32_t idx[TL_MAX_DIMS] = {0, 0, 0, 0, 0, 0};
  const int32_t last = p->n_dims - 1;
  int32_t total = 1, n, d;
  int32_t src = p->offset;
  for (d = 0; d < p->n_dims; ++d) total *= p->count[d];
  n = 0;
  while (n < total) {
    /* the innermost run */
    int32_t j;
    const int32_t run = p->count[last], stride = p->stride[last];
    if (stride == 1) {
      memcpy(output + n, input + src, (size_t)run);
    } else {
      for (j = 0; j < run; ++j) output[n + j] = input[src + j * stride];
    }
    n += run;
    /* advance the outer indices */
    for (d = last - 1; d >= 0; --d) {
      src += p->stride[d];
      if (++idx[d] < p->count[d]) break;
      src -= p->stride[d] * p->count[d];
      idx[d] = 0;
    }
  }
}

void tl_resize_nearest_s8(int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                          int32_t out_h, int32_t out_w, const int16_t *y_index,
                          const int16_t *x_index, const int8_t *input, int8_t *output) {
  int32_t b, y, x;
  for (b = 0; b < batches; ++b) {
    const int8_t *image = input + (size_t)b * in_h * in_w * channels;
    for (y = 0; y < out_h; ++y) {
      const int8_t *row = image + (size_t)y_index[y] * in_w * channels;
      for (x = 0; x < out_w; ++x) {
        memcpy(output, row + (size_t)x_index[x] * channels, (size_t)channels);
        output += channels;
      }
    }
  }
}
