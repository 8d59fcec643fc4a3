// Batch normalization kernels: per-channel statistics, the affine map, and
// the backward pass. See batchnorm.hpp for the determinism rule.
#include "norm/batchnorm.hpp"

#include <algorithm>
#include <cmath>

#include "core/threading.hpp"
#include "core/workspace.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

namespace {

// Scratch slots: per-block partial sums, then per-channel coefficients.
constexpr int kPartialSlot = 0;
constexpr int kChannelSlot = 1;

// Row blocks depend on the shape only (never on the thread count).
struct RowBlocks {
  int64_t count, rows_per_block;
  explicit RowBlocks(int64_t rows)
      : count(std::max<int64_t>(1, std::min<int64_t>(64, rows / 32))),
        rows_per_block((rows + count - 1) / count) {}
  int64_t begin(int64_t b) const { return b * rows_per_block; }
  int64_t end(int64_t b, int64_t rows) const { return std::min(rows, (b + 1) * rows_per_block); }
};

double* double_scratch(int64_t count, int slot) {
  return reinterpret_cast<double*>(workspace_floats(static_cast<size_t>(2 * count), slot));
}

// y = x * scale[c] + shift[c]
void affine(const float* x, const float* scale, const float* shift, int64_t rows, int64_t cols,
            float* y) {
  const int nt = threads_for_work(2.0 * rows * cols);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] * scale[c] + shift[c];
  }
}

// Per-channel affine coefficients of the normalisation.
void fold_coefficients(const float* gamma, const float* beta, const float* mean,
                       const float* inv_std, int64_t cols, float* scale, float* shift) {
  for (int64_t c = 0; c < cols; ++c) {
    scale[c] = (gamma ? gamma[c] : 1.0f) * inv_std[c];
    shift[c] = (beta ? beta[c] : 0.0f) - mean[c] * scale[c];
  }
}

}  // namespace

void batchnorm_train_forward(const float* x, const float* gamma, const float* beta,
                             float epsilon, int64_t rows, int64_t cols, float* y, float* mean,
                             float* var, float* inv_std) {
  if (cols <= 0 || rows <= 0) return;
  const RowBlocks blocks(rows);
  // Sums of (x - x[0]) and its square per block: shifting by a sample of the
  // channel keeps E[d^2] - E[d]^2 free of cancellation when |mean| >> std.
  double* partial = double_scratch(2 * blocks.count * cols, kPartialSlot);
  const int nt = threads_for_work(3.0 * rows * cols);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t b = 0; b < blocks.count; ++b) {
    double* sum = partial + 2 * b * cols;
    double* sumsq = sum + cols;
    for (int64_t c = 0; c < cols; ++c) sum[c] = sumsq[c] = 0.0;
    for (int64_t r = blocks.begin(b); r < blocks.end(b, rows); ++r) {
      const float* xr = x + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(xr[c]) - x[c];
        sum[c] += d;
        sumsq[c] += d * d;
      }
    }
  }
  for (int64_t c = 0; c < cols; ++c) {
    double s = 0.0, q = 0.0;
    for (int64_t b = 0; b < blocks.count; ++b) {
      s += partial[2 * b * cols + c];
      q += partial[(2 * b + 1) * cols + c];
    }
    const double mean_d = s / rows;
    const double var_d = std::max(0.0, q / rows - mean_d * mean_d);
    mean[c] = static_cast<float>(x[c] + mean_d);
    var[c] = static_cast<float>(var_d);
    inv_std[c] = static_cast<float>(1.0 / std::sqrt(var_d + epsilon));
  }
  float* scale = workspace_floats(static_cast<size_t>(2 * cols), kChannelSlot);
  float* shift = scale + cols;
  fold_coefficients(gamma, beta, mean, inv_std, cols, scale, shift);
  affine(x, scale, shift, rows, cols, y);
}

void batchnorm_infer_forward(const float* x, const float* gamma, const float* beta,
                             const float* moving_mean, const float* moving_var, float epsilon,
                             int64_t rows, int64_t cols, float* y) {
  if (cols <= 0 || rows <= 0) return;
  float* scale = workspace_floats(static_cast<size_t>(3 * cols), kChannelSlot);
  float* shift = scale + cols;
  float* inv_std = shift + cols;
  for (int64_t c = 0; c < cols; ++c)
    inv_std[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(moving_var[c]) + epsilon));
  fold_coefficients(gamma, beta, moving_mean, inv_std, cols, scale, shift);
  affine(x, scale, shift, rows, cols, y);
}

void batchnorm_backward(const float* x, const float* dy, const float* gamma, const float* mean,
                        const float* inv_std, bool through_stats, int64_t rows, int64_t cols,
                        float* dx, float* dgamma, float* dbeta) {
  if (cols <= 0) return;
  const RowBlocks blocks(rows);
  // Pass 1: per-block sums of dy and dy * xhat.
  double* partial = double_scratch(2 * blocks.count * cols, kPartialSlot);
  const int nt = threads_for_work(4.0 * rows * cols);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t b = 0; b < blocks.count; ++b) {
    double* sum_dy = partial + 2 * b * cols;
    double* sum_dy_xhat = sum_dy + cols;
    for (int64_t c = 0; c < cols; ++c) sum_dy[c] = sum_dy_xhat[c] = 0.0;
    for (int64_t r = blocks.begin(b); r < blocks.end(b, rows); ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) {
        const float xhat = (xr[c] - mean[c]) * inv_std[c];
        sum_dy[c] += dyr[c];
        sum_dy_xhat[c] += static_cast<double>(dyr[c]) * xhat;
      }
    }
  }
  for (int64_t c = 0; c < cols; ++c) {
    double s = 0.0, q = 0.0;
    for (int64_t b = 0; b < blocks.count; ++b) {
      s += partial[2 * b * cols + c];
      q += partial[(2 * b + 1) * cols + c];
    }
    dbeta[c] = static_cast<float>(s);
    dgamma[c] = static_cast<float>(q);
  }
  if (rows <= 0) return;
  // Pass 2: dx = k * (dy - mean(dy) - xhat * mean(dy * xhat)), k = gamma * inv_std.
  float* k = workspace_floats(static_cast<size_t>(3 * cols), kChannelSlot);
  float* mean_dy = k + cols;
  float* mean_dy_xhat = mean_dy + cols;
  const float inv_rows = through_stats ? 1.0f / static_cast<float>(rows) : 0.0f;
  for (int64_t c = 0; c < cols; ++c) {
    k[c] = (gamma ? gamma[c] : 1.0f) * inv_std[c];
    mean_dy[c] = dbeta[c] * inv_rows;
    mean_dy_xhat[c] = dgamma[c] * inv_rows;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      const float xhat = (xr[c] - mean[c]) * inv_std[c];
      dxr[c] = k[c] * (dyr[c] - mean_dy[c] - xhat * mean_dy_xhat[c]);
    }
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
