// Binary crossentropy, mean over the last axis, on probabilities (Keras clips
// them to [1e-7, 1 - 1e-7]) or on logits (the stable softplus form).
#include <cmath>

#include "loss/loss.hpp"
#include "loss/loss_math.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

static void bce_probability_row(const float* t, const float* p, int64_t cols, float grad_scale,
                                float* row_loss, float* g) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const float q = lossmath::clip_probability(p[j]);
    sum -= static_cast<double>(t[j]) * std::log(q) +
           static_cast<double>(1.0f - t[j]) * std::log1p(-q);
  }
  *row_loss = static_cast<float>(sum / static_cast<double>(cols));
  if (!g) return;
  for (int64_t j = 0; j < cols; ++j) {
    const float q = lossmath::clip_probability(p[j]);
    const float dq = (1.0f - t[j]) / (1.0f - q) - t[j] / q;
    g[j] = grad_scale * lossmath::clip_probability_slope(p[j]) * dq;
  }
}

static void bce_logit_row(const float* t, const float* x, int64_t cols, float grad_scale,
                          float* row_loss, float* g) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const float z = x[j];
    // max(z, 0) - z*t + log(1 + exp(-|z|)): no overflow for any z.
    sum += static_cast<double>(std::fmax(z, 0.0f) - z * t[j]) + std::log1p(std::exp(-std::fabs(z)));
  }
  *row_loss = static_cast<float>(sum / static_cast<double>(cols));
  if (!g) return;
  for (int64_t j = 0; j < cols; ++j) {
    const float z = x[j];
    const float e = std::exp(-std::fabs(z));
    const float sigmoid = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    g[j] = grad_scale * (sigmoid - t[j]);
  }
}

void binary_crossentropy_rows(const float* y_true, const float* y_pred, int64_t rows,
                              int64_t cols, bool from_logits, const float* row_scale,
                              float* row_loss, float* grad) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  const int nt = lossmath::loss_threads(rows, cols, 40.0);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float s = inv_cols * lossmath::row_scale_at(row_scale, r);
    float* g = grad ? grad + r * cols : nullptr;
    if (from_logits)
      bce_logit_row(y_true + r * cols, y_pred + r * cols, cols, s, row_loss + r, g);
    else
      bce_probability_row(y_true + r * cols, y_pred + r * cols, cols, s, row_loss + r, g);
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
