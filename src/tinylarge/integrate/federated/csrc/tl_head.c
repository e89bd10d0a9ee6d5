/* FTL head update on the device (see tl_head.h). */
#include "tl_head.h"

#include <math.h>
#include <stddef.h>

tl_head_status_t tl_head_forward(const tl_head_t *head, const float *features, float *logits) {
  if (head == NULL || features == NULL || logits == NULL) return TL_HEAD_BAD_ARGUMENT;
  const int32_t n_features = head->n_features;
  const int32_t n_classes = head->n_classes;
  for (int32_t out_c = 0; out_c < n_classes; ++out_c) {
    const float *row = head->weight + (size_t)out_c * (size_t)n_features;
    float acc = head->bias[out_c];
    for (int32_t in_f = 0; in_f < n_features; ++in_f) acc += row[in_f] * features[in_f];
    logits[out_c] = acc;
  }
  return TL_HEAD_OK;
}

tl_head_status_t tl_head_sgd_step(tl_head_t *head, const float *features, const int32_t *labels,
                                  int32_t batch, float lr, float *loss) {
  if (head == NULL || features == NULL || labels == NULL || batch < 1) return TL_HEAD_BAD_ARGUMENT;
  const int32_t n_features = head->n_features;
  const int32_t n_classes = head->n_classes;
  const float inv_batch = 1.0f / (float)batch;
  float loss_sum = 0.0f;
  for (int32_t i = 0; i < n_classes * n_features; ++i) head->grad_weight[i] = 0.0f;
  for (int32_t c = 0; c < n_classes; ++c) head->grad_bias[c] = 0.0f;
  for (int32_t s = 0; s < batch; ++s) {
    const float *f = features + (size_t)s * (size_t)n_features;
    const int32_t label = labels[s];
    if (label < 0 || label >= n_classes) return TL_HEAD_BAD_ARGUMENT;
    tl_head_forward(head, f, head->logits);
    /* softmax with the maximum subtracted: exp never overflows */
    float z_max = head->logits[0];
    for (int32_t c = 1; c < n_classes; ++c) z_max = head->logits[c] > z_max ? head->logits[c] : z_max;
    float denom = 0.0f;
    for (int32_t c = 0; c < n_classes; ++c) {
      head->logits[c] = expf(head->logits[c] - z_max);
      denom += head->logits[c];
    }
    loss_sum += -logf(head->logits[label] / denom);
    for (int32_t c = 0; c < n_classes; ++c) {
      /* dz_c = (p_c - [c == label]) / batch */
      const float dz = (head->logits[c] / denom - (c == label ? 1.0f : 0.0f)) * inv_batch;
      float *grad_row = head->grad_weight + (size_t)c * (size_t)n_features;
      for (int32_t in_f = 0; in_f < n_features; ++in_f) grad_row[in_f] += dz * f[in_f];
      head->grad_bias[c] += dz;
    }
  }
  for (int32_t i = 0; i < n_classes * n_features; ++i) head->weight[i] -= lr * head->grad_weight[i];
  for (int32_t c = 0; c < n_classes; ++c) head->bias[c] -= lr * head->grad_bias[c];
  if (loss != NULL) *loss = loss_sum * inv_batch;
  return TL_HEAD_OK;
}
