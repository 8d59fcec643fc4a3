// Categorical crossentropy over the last axis, with one-hot/soft targets or
// integer labels (sparse). Probabilities follow Keras 3: divide by the row
// sum, clip to [1e-7, 1 - 1e-7], -sum(t * log p). Logits use log-softmax.
#include <cmath>

#include "loss/loss.hpp"
#include "loss/loss_math.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

namespace {

// The target row: dense values, or a one-hot at `label` when dense == nullptr.
struct TargetRow {
  const float* dense;
  int64_t label;
  inline float at(int64_t j) const { return dense ? dense[j] : (j == label ? 1.0f : 0.0f); }
};

void probability_row(TargetRow t, const float* p, int64_t cols, float grad_scale,
                     float* row_loss, float* g) {
  double total = 0.0;
  for (int64_t j = 0; j < cols; ++j) total += p[j];
  const float row_sum = static_cast<float>(total);
  double loss = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const float tj = t.at(j);
    if (tj != 0.0f) loss -= static_cast<double>(tj) * std::log(lossmath::clip_probability(p[j] / row_sum));
  }
  *row_loss = static_cast<float>(loss);
  if (!g) return;
  // dL/dq_j = -t_j / clip(q_j) * clip'(q_j); then back through q = p / sum(p):
  // dL/dp_j = (dL/dq_j - sum_k dL/dq_k q_k) / sum(p).
  double weighted = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const float q = p[j] / row_sum;
    const float dq = -t.at(j) / lossmath::clip_probability(q) * lossmath::clip_probability_slope(q);
    g[j] = dq;
    weighted += static_cast<double>(dq) * q;
  }
  const float w = static_cast<float>(weighted);
  const float s = grad_scale / row_sum;
  for (int64_t j = 0; j < cols; ++j) g[j] = s * (g[j] - w);
}

// Backward of softmax in place: g <- p * (g - sum(p * g)), p the softmax output.
void softmax_backward_in_place(const float* p, int64_t cols, float* g) {
  double dot = 0.0;
  for (int64_t j = 0; j < cols; ++j) dot += static_cast<double>(p[j]) * g[j];
  const float d = static_cast<float>(dot);
  for (int64_t j = 0; j < cols; ++j) g[j] = p[j] * (g[j] - d);
}

void logit_row(TargetRow t, const float* x, int64_t cols, float grad_scale, float* row_loss,
               float* g) {
  float peak = x[0];
  for (int64_t j = 1; j < cols; ++j) peak = std::fmax(peak, x[j]);
  double exp_sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) exp_sum += std::exp(x[j] - peak);
  const double log_sum_exp = peak + std::log(exp_sum);
  double loss = 0.0, target_sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const float tj = t.at(j);
    if (tj != 0.0f) loss += tj * (log_sum_exp - x[j]);
    target_sum += tj;
  }
  *row_loss = static_cast<float>(loss);
  if (!g) return;
  // d/dx_j [sum_k t_k (lse - x_k)] = sum(t) * softmax_j - t_j.
  const float inv_exp_sum = static_cast<float>(1.0 / exp_sum);
  const float ts = static_cast<float>(target_sum);
  for (int64_t j = 0; j < cols; ++j)
    g[j] = grad_scale * (ts * std::exp(x[j] - peak) * inv_exp_sum - t.at(j));
}

void crossentropy_row(TargetRow t, const float* y, int64_t cols, CrossentropyInput input,
                      float grad_scale, float* row_loss, float* g) {
  if (input == CrossentropyInput::logits) {
    logit_row(t, y, cols, grad_scale, row_loss, g);
    return;
  }
  probability_row(t, y, cols, grad_scale, row_loss, g);
  if (g && input == CrossentropyInput::softmax_output_grad_logits)
    softmax_backward_in_place(y, cols, g);
}

}  // namespace

void categorical_crossentropy_rows(const float* y_true, const float* y_pred, int64_t rows,
                                   int64_t cols, CrossentropyInput input, const float* row_scale,
                                   float* row_loss, float* grad) {
  const int nt = lossmath::loss_threads(rows, cols, 30.0);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    TargetRow t{y_true + r * cols, -1};
    crossentropy_row(t, y_pred + r * cols, cols, input, lossmath::row_scale_at(row_scale, r),
                     row_loss + r, grad ? grad + r * cols : nullptr);
  }
}

void sparse_categorical_crossentropy_rows(const int64_t* labels, const float* y_pred,
                                          int64_t rows, int64_t cols, CrossentropyInput input,
                                          bool has_ignore, int64_t ignore_class,
                                          const float* row_scale, float* row_loss,
                                          float* grad) {
  const int nt = lossmath::loss_threads(rows, cols, 30.0);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* g = grad ? grad + r * cols : nullptr;
    if (has_ignore && labels[r] == ignore_class) {
      row_loss[r] = 0.0f;
      if (g)
        for (int64_t j = 0; j < cols; ++j) g[j] = 0.0f;
      continue;
    }
    TargetRow t{nullptr, labels[r]};
    crossentropy_row(t, y_pred + r * cols, cols, input, lossmath::row_scale_at(row_scale, r),
                     row_loss + r, g);
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
