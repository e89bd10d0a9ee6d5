/* FTL's device-side training step: a float linear head on frozen int8 backbone features.
 *
 *   logits = W f + b                       W: [n_classes][n_features], row-major
 *   loss   = mean over the batch of cross-entropy(softmax(logits), label)
 *   dL/dz  = (softmax(z) - onehot(label)) / batch
 *   W -= lr * sum_i dz_i f_i^T,  b -= lr * sum_i dz_i          (plain SGD, no momentum)
 *
 * The same step as torch's SGD on F.cross_entropy (mean reduction), so one round on the device
 * matches the Python client's head update within float rounding. C99, no malloc: the caller gives
 * the gradient buffers (n_classes * n_features + n_classes floats) and a logits scratch. */
#ifndef TL_HEAD_H
#define TL_HEAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TL_HEAD_OK = 0, TL_HEAD_BAD_ARGUMENT = 1 } tl_head_status_t;

typedef struct {
  int32_t n_features;
  int32_t n_classes;
  float *weight; /* [n_classes * n_features] */
  float *bias;   /* [n_classes] */
  float *grad_weight;
  float *grad_bias;
  float *logits; /* scratch, [n_classes] */
} tl_head_t;

/* z = W f + b for one feature vector. */
tl_head_status_t tl_head_forward(const tl_head_t *head, const float *features, float *logits);

/* One SGD step on a batch: features [batch * n_features], labels [batch] in 0..n_classes-1.
 * Writes the batch's mean loss to *loss when loss is not NULL. */
tl_head_status_t tl_head_sgd_step(tl_head_t *head, const float *features, const int32_t *labels,
                                  int32_t batch, float lr, float *loss);

#ifdef __cplusplus
}
#endif

#endif /* TL_HEAD_H */
