// Mean squared / mean absolute error over the last axis (Keras: mean of the
// element losses along axis -1), with the gradient w.r.t. y_pred.
#include <cmath>

#include "loss/loss.hpp"
#include "loss/loss_math.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

void mean_squared_error_rows(const float* y_true, const float* y_pred, int64_t rows,
                             int64_t cols, const float* row_scale, float* row_loss,
                             float* grad) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  const int nt = lossmath::loss_threads(rows, cols, 4.0);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* t = y_true + r * cols;
    const float* p = y_pred + r * cols;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) {
      const float d = p[j] - t[j];
      sum += d * d;
    }
    row_loss[r] = sum * inv_cols;
    if (!grad) continue;
    const float s = 2.0f * inv_cols * lossmath::row_scale_at(row_scale, r);
    float* g = grad + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) g[j] = s * (p[j] - t[j]);
  }
}

void mean_absolute_error_rows(const float* y_true, const float* y_pred, int64_t rows,
                              int64_t cols, const float* row_scale, float* row_loss,
                              float* grad) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  const int nt = lossmath::loss_threads(rows, cols, 3.0);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* t = y_true + r * cols;
    const float* p = y_pred + r * cols;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) sum += std::fabs(t[j] - p[j]);
    row_loss[r] = sum * inv_cols;
    if (!grad) continue;
    const float s = inv_cols * lossmath::row_scale_at(row_scale, r);
    float* g = grad + r * cols;
    // Keras takes abs(y_true - y_pred); JAX's abs has slope +1 at 0, so a
    // prediction equal to its target gets gradient -s.
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) g[j] = (t[j] - p[j] >= 0.0f) ? -s : s;
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
