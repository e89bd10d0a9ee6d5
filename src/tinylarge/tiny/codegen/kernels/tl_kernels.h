/* tl_kernels.h - int8 kernels for interpreter-less TinyML inference (tinylarge).
 *
 * C99, no malloc, no stdio. Every kernel computes the integers of the TensorFlow Lite Micro
 * reference kernels (tensorflow/lite/kernels/internal/reference/), so its output is bit-exact
 * with TFLM. Tensors are NHWC, int8, row-major. Everything that can be computed ahead of time
 * is: folded biases, requantization constants, packed weights, lookup tables, index tables.
 *
 * Fast paths use the ARMv7E-M DSP instructions where the compiler targets them (see
 * tl_arith.h); the same packed data drives the portable path on other cores and the host.
 *
 * `reverse`: kernels whose output may overlap their input (planned ahead of time) produce
 * output pixels/elements either first to last (0) or last to first (1); the planner proves
 * that, in that order, no input byte is overwritten before it was last read.
 */
#ifndef TL_KERNELS_H_
#define TL_KERNELS_H_

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the packed weights are little-endian words"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolutions as matrix products -----------------------------------------------------
 * Weights are packed ahead of time: rows (output channels) in groups of `group` (2 for
 * CONV_2D, 4 for FULLY_CONNECTED), each row padded with zeros to k4 (a multiple of 4), and the
 * rows of a group interleaved 4 bytes at a time: [r0 k0..3][r1 k0..3]...[r0 k4..7]... , stored
 * as little-endian 32-bit words (word-aligned for the DSP loads).
 * The bias has the input offset folded in (bias + input_offset * sum(w)), so the kernels
 * compute plain int8 dot products; taps outside the input read the input zero point, which
 * the folded bias cancels exactly. rq holds 4 int32 per output channel (see tl_rq). */
typedef struct {
  int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
  int32_t filter_h, filter_w, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t k4;        /* filter_h * filter_w * in_c rounded up to a multiple of 4 */
  int32_t pad_value; /* input zero point */
  int32_t act_min, act_max;
  int32_t reverse;
} tl_conv_params_t;

/* Bytes of scratch tl_conv_s8 needs (the generator reserves it in the arena). */
#define TL_CONV_SCRATCH_BYTES(k4) (6 * (k4))

/* CONV_2D (groups 1, any stride/dilation/padding; 1x1 convolutions read pixels in place). */
void tl_conv_s8(const tl_conv_params_t *p, const int8_t *input, const uint32_t *filter,
                const int32_t *bias, const int32_t *rq, int8_t *output, void *scratch);

typedef struct {
  int32_t batches, accum_depth, k4, output_depth;
  int32_t act_min, act_max;
  int32_t per_channel; /* rq has output_depth entries (1) or one (0) */
} tl_fc_params_t;

/* FULLY_CONNECTED with symmetric weights, packed in groups of 4 rows. */
void tl_fully_connected_s8(const tl_fc_params_t *p, const int8_t *input, const uint32_t *filter,
                           const int32_t *bias, const int32_t *rq, int8_t *output);

/* DEPTHWISE_CONV_2D. Filter as int16 [out channel/4][tap][c0 c2 c1 c3]
 * (channels padded to a multiple of 4) in 32-bit words; bias NOT folded (taps outside the input are skipped,
 * as in TFLM). input_offset = -input zero point. */
typedef struct {
  int32_t batches, in_h, in_w, channels, out_h, out_w;
  int32_t filter_h, filter_w, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t depth_multiplier; /* out_c = channels * depth_multiplier */
  int32_t input_offset;
  int32_t act_min, act_max;
  int32_t reverse;
} tl_dw_params_t;

void tl_depthwise_s8(const tl_dw_params_t *p, const int8_t *input, const uint32_t *filter,
                     const int32_t *bias, const int32_t *rq, int8_t *output);

/* The reference convolutions (any groups / depth multiplier / requantization), TFLM's loops
 * unchanged: filter [out_c, fh, fw, filter_c] (conv) or [1, fh, fw, out_c] (depthwise). */
typedef struct {
  int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
  int32_t filter_h, filter_w, filter_c;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t depth_multiplier;
  int32_t input_offset, output_offset;
  int32_t act_min, act_max;
} tl_conv_ref_params_t;

void tl_conv_ref_s8(const tl_conv_ref_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                    int8_t *output);
void tl_depthwise_ref_s8(const tl_conv_ref_params_t *p, const int8_t *input,
                         const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                         const int32_t *shift, int8_t *output);

typedef struct {
  int32_t batches, accum_depth, output_depth;
  int32_t input_offset, filter_offset, output_offset;
  int32_t act_min, act_max;
  int32_t per_channel;
} tl_fc_ref_params_t;

/* FULLY_CONNECTED, TFLM's loop (asymmetric weights, large multipliers). */
void tl_fully_connected_ref_s8(const tl_fc_ref_params_t *p, const int8_t *input,
                               const int8_t *filter, const int32_t *bias,
                               const int32_t *multiplier, const int32_t *shift,
                               int8_t *output);

/* TRANSPOSE_CONV as a gather (each output sums the inputs that reach it: the same int32 as
 * TFLM's scatter into a scratch buffer, without the buffer). Filter [out_c, fh, fw, in_c].
 * rq (tl_rq rows, output zero point included) when not NULL, else multiplier/shift. */
void tl_transpose_conv_s8(const tl_conv_ref_params_t *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, const int32_t *rq, int8_t *output);

/* ---- pooling and reduction --------------------------------------------------------------- */
typedef struct {
  int32_t batches, in_h, in_w, channels, out_h, out_w;
  int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
  int32_t reverse;
} tl_pool_params_t;

void tl_avg_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output);
void tl_max_pool_s8(const tl_pool_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
  int32_t outer, reduced, inner; /* input viewed as [outer, reduced, inner] */
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier, shift; /* include the 1/reduced factor */
} tl_mean_params_t;

/* MEAN over one contiguous run of axes (e.g. H and W of NHWC). Output i of an outer block is
 * written only after every input it reads, so it may overwrite the input's first row. */
void tl_mean_s8(const tl_mean_params_t *p, const int8_t *input, int8_t *output);

/* ---- elementwise ------------------------------------------------------------------------- */
/* Any int8 -> int8 function of one element (RELU, RELU6, LEAKY_RELU, HARD_SWISH, TANH,
 * LOGISTIC, requantizing QUANTIZE): a 256-entry table indexed by (uint8_t)x, computed by the
 * generator with TFLM's integer arithmetic. */
void tl_lut_s8(const int8_t *lut, const int8_t *input, int8_t *output, int32_t size,
               int32_t reverse);

#define TL_MAX_DIMS 6
enum { TL_OP_ADD = 0, TL_OP_SUB = 1, TL_OP_MUL = 2, TL_OP_PRELU = 3 };
typedef struct {
  int32_t op;     /* TL_OP_* */
  int32_t n_dims; /* 0: same shape, no broadcast (flat loop of out_shape[0] elements) */
  int32_t out_shape[TL_MAX_DIMS];
  int32_t in1_strides[TL_MAX_DIMS]; /* 0 along broadcast dimensions */
  int32_t in2_strides[TL_MAX_DIMS];
  int32_t input1_offset, input2_offset, output_offset;
  int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift; /* PRELU: multiplier/shift for x >= 0 */
  int32_t left_shift;
  int32_t act_min, act_max;
  int32_t reverse; /* same-shape ops only */
  /* 1: rq holds tl_rq rows (input1, input2, output) computing the same integers in one
   * multiply each; 0: the reference MultiplyByQuantizedMultiplier chain */
  int32_t fast;
  int32_t rq[12];
} tl_binary_params_t;

/* ADD, SUB, MUL (TFLM add.h, sub.h, mul.h) and PRELU (prelu.h: input2 = alpha; input1_*
 * multiplier/shift apply to x * alpha). */
void tl_binary_s8(const tl_binary_params_t *p, const int8_t *input1, const int8_t *input2,
                  int8_t *output);

typedef struct {
  int32_t outer, depth;
} tl_softmax_params_t;

/* SOFTMAX over the last axis; output scale 1/256, zero point -128. exp_lut[255 - d] holds the
 * Q0.31 exp of the difference d = x - max (d in [-255, 0]), 0 where d < diff_min. */
void tl_softmax_s8(const tl_softmax_params_t *p, const int32_t *exp_lut, const int8_t *input,
                   int8_t *output);

/* QUANTIZE float -> int8 (round half away from zero; first to last, so the int8 output may
 * start at or before the float input) and DEQUANTIZE int8 -> float (a table; last to first, so
 * the float output may start at or after the int8 input). */
void tl_quantize_f32(const float *input, int8_t *output, int32_t size, float scale,
                     int32_t zero_point);
void tl_dequantize_f32(const float *lut, const int8_t *input, float *output, int32_t size);

/* ---- data movement ----------------------------------------------------------------------- */
/* memmove semantics: overlapping views are fine. */
void tl_copy_s8(const int8_t *input, int8_t *output, int32_t size);

typedef struct {
  int32_t in_shape[4];
  int32_t before[4], after[4];
  int32_t pad_value;
} tl_pad_params_t;

/* PAD / PADV2 of a (left-extended to) 4-D tensor. */
void tl_pad_s8(const tl_pad_params_t *p, const int8_t *input, int8_t *output);

/* CONCATENATION of n inputs that share one quantization: input i copies `sizes[i]` bytes
 * per outer step. */
void tl_concat_s8(int32_t n_inputs, const int8_t *const *inputs, const int32_t *sizes,
                  int32_t outer, int8_t *output);

typedef struct {
  int32_t n_dims;
  int32_t count[TL_MAX_DIMS];  /* output shape */
  int32_t stride[TL_MAX_DIMS]; /* input elements between consecutive outputs along each dim */
  int32_t offset;              /* input element of output 0 */
} tl_gather_params_t;

/* A strided view copied out: STRIDED_SLICE, SLICE, SPLIT (one call per output) and
 * TRANSPOSE (permuted strides). out[i] = in[offset + sum_d idx_d * stride[d]]. */
void tl_gather_s8(const tl_gather_params_t *p, const int8_t *input, int8_t *output);

/* RESIZE_NEAREST_NEIGHBOR: y_index/x_index give the input row/column of each output row and
 * column (computed by the generator with TFLM's float arithmetic). */
void tl_resize_nearest_s8(int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                          int32_t out_h, int32_t out_w, const int16_t *y_index,
                          const int16_t *x_index, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TL_KERNELS_H_ */
