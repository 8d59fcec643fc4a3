// Batch normalization over the last axis of a rows x cols (channels) array.
// gamma/beta may be null (1 and 0). Per-channel reductions use row blocks
// fixed by the shape, double accumulators and an in-order combine, so the
// results are bit-identical with any thread count.
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"

#define PYCNN_NORM_KERNELS                                                                  \
  /* y = (x - mean) * inv_std * gamma + beta with the batch mean and biased variance. */  \
  void batchnorm_train_forward(const float* x, const float* gamma, const float* beta,       \
                               float epsilon, int64_t rows, int64_t cols, float* y,         \
                               float* mean, float* var, float* inv_std);                    \
  /* Same with given (moving) statistics. */                                                \
  void batchnorm_infer_forward(const float* x, const float* gamma, const float* beta,       \
                               const float* moving_mean, const float* moving_var,           \
                               float epsilon, int64_t rows, int64_t cols, float* y);        \
  /* dgamma = sum dy * xhat, dbeta = sum dy; dx through the batch statistics when        \
     through_stats (training), else dx = dy * gamma * inv_std (statistics constant). */   \
  void batchnorm_backward(const float* x, const float* dy, const float* gamma,              \
                          const float* mean, const float* inv_std, bool through_stats,      \
                          int64_t rows, int64_t cols, float* dx, float* dgamma,             \
                          float* dbeta);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_NORM_KERNELS)
