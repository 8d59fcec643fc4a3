// Separable image resampling (Resizing, UpSampling2D): one pass per spatial
// axis, each a sparse matrix of per-axis tap tables applied along that axis.
// The tables (nearest, bilinear, bicubic, lanczos; antialias) are built in
// pycnn/ops/pool.py; the backward pass is the same kernel with the
// transposed tables, so it is a gather too (deterministic, no atomics).
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"

#define PYCNN_RESIZE_KERNELS                                                                \
  /* x is (outer, in_len, inner), y is (outer, out_len, inner):                            \
     y[o, j, :] = sum over t in [offsets[j], offsets[j + 1]) of                           \
                  weights[t] * x[o, index[t], :]  (zero when the range is empty). */       \
  void resample_axis(const float* x, int64_t outer, int64_t in_len, int64_t out_len,        \
                     int64_t inner, const int64_t* offsets, const int64_t* index,           \
                     const float* weights, float* y);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_RESIZE_KERNELS)
