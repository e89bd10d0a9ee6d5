/* tl_kernels.h - int8 kernels for interpreter-less TinyML inference (tinylarge).
 *
 * C99, no malloc, no stdio. Every kernel follows the integer arithmetic of the TensorFlow Lite
 * Micro reference kernels (tensorflow/lite/kernels/internal/reference/integer_ops/) so that its
 * output is bit-exact with TFLM: int32 accumulation, bias, fixed-point requantization
 * (SaturatingRoundingDoublingHighMul + RoundingDivideByPOT), output zero point, clamp, cast.
 * Tensors are NHWC, int8, row-major. Multipliers/shifts are folded at generation time.
 */
#ifndef TL_KERNELS_H_
#define TL_KERNELS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fixed-point helpers (gemmlowp semantics) ------------------------------------------- */
int32_t tl_srdhm(int32_t a, int32_t b);
int32_t tl_rdbpot(int32_t x, int exponent);
int32_t tl_mbqm(int32_t x, int32_t multiplier, int shift);

/* ---- convolution family ------------------------------------------------------------------ */
typedef struct {
  int32_t batches;
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t filter_h, filter_w, filter_c; /* filter_c = in_c / groups (CONV_2D) */
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t depth_multiplier; /* DEPTHWISE_CONV_2D only */
  int32_t input_offset;     /* -input zero point */
  int32_t output_offset;    /* output zero point */
  int32_t act_min, act_max;
} tl_conv_params_t;

/* CONV_2D, per-channel: filter [out_c, fh, fw, filter_c], bias [out_c] or NULL. */
void tl_conv2d_s8(const tl_conv_params_t *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                  int8_t *output);

/* DEPTHWISE_CONV_2D, per-channel: filter [1, fh, fw, out_c], out_c = in_c * depth_multiplier. */
void tl_depthwise_conv2d_s8(const tl_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output);

typedef struct {
  int32_t batches, accum_depth, output_depth;
  int32_t input_offset, filter_offset, output_offset;
  int32_t act_min, act_max;
  int32_t per_channel; /* 1: multiplier/shift have output_depth entries, 0: one entry */
} tl_fc_params_t;

/* FULLY_CONNECTED: filter [output_depth, accum_depth], bias [output_depth] or NULL.
 * With both offsets 0 the generator has folded -Zx * sum(w) into the bias (same integers). */
void tl_fully_connected_s8(const tl_fc_params_t *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output);

/* ---- pooling and reduction --------------------------------------------------------------- */
typedef struct {
  int32_t batches, in_h, in_w, channels, out_h, out_w;
  int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
} tl_pool_params_t;

void tl_avg_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output);
void tl_max_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
  int32_t outer, reduced, inner; /* input viewed as [outer, reduced, inner] */
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier, shift; /* include the 1/reduced factor */
} tl_mean_params_t;

/* MEAN over one contiguous run of axes (e.g. H and W of NHWC). */
void tl_mean_s8(const tl_mean_params_t *p, const int8_t *input, int8_t *output);

/* ---- elementwise ------------------------------------------------------------------------- */
#define TL_MAX_DIMS 6
typedef struct {
  int32_t n_dims;
  int32_t out_shape[TL_MAX_DIMS];
  int32_t in1_strides[TL_MAX_DIMS]; /* 0 along broadcast dimensions */
  int32_t in2_strides[TL_MAX_DIMS];
  int32_t input1_offset, input2_offset, output_offset;
  int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  int32_t left_shift;
  int32_t act_min, act_max;
} tl_binary_params_t;

void tl_add_s8(const tl_binary_params_t *p, const int8_t *input1, const int8_t *input2,
               int8_t *output);
void tl_mul_s8(const tl_binary_params_t *p, const int8_t *input1, const int8_t *input2,
               int8_t *output);

typedef struct {
  int32_t size;
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier, shift;
} tl_requant_params_t;

/* QUANTIZE int8 -> int8 (requantize). */
void tl_requantize_s8(const tl_requant_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
  int32_t outer, depth;
  int32_t input_multiplier, input_left_shift, diff_min;
} tl_softmax_params_t;

/* SOFTMAX over the last axis; output scale 1/256, zero point -128. */
void tl_softmax_s8(const tl_softmax_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
  int32_t size;
  int32_t input_zero_point, input_range_radius, input_multiplier, input_left_shift;
} tl_logistic_params_t;

/* LOGISTIC; output scale 1/256, zero point -128. */
void tl_logistic_s8(const tl_logistic_params_t *p, const int8_t *input, int8_t *output);

/* ---- data movement ----------------------------------------------------------------------- */
void tl_copy_s8(const int8_t *input, int8_t *output, int32_t size);

typedef struct {
  int32_t in_shape[4];
  int32_t before[4], after[4];
  int32_t pad_value;
} tl_pad_params_t;

/* PAD of a (left-extended to) 4-D tensor. */
void tl_pad_s8(const tl_pad_params_t *p, const int8_t *input, int8_t *output);

/* CONCATENATION of n inputs that share one quantization: input i copies `sizes[i]` bytes
 * per outer step. */
void tl_concat_s8(int32_t n_inputs, const int8_t *const *inputs, const int32_t *sizes,
                  int32_t outer, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TL_KERNELS_H_ */
