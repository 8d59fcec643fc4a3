// 2-D max and average pooling, channels-last (NHWC). 1-D and global pooling
// run through the same kernels (H = 1, or one window covering the image).
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"

namespace pycnn {

// Sizes of one pooling; bottom/right padding is implied by out_h/out_w.
// Windows never count padding: max ignores it, average divides by the
// number of in-bounds values (as TensorFlow does for 'same').
struct PoolGeometry {
  int64_t batch, in_h, in_w, channels;
  int64_t out_h, out_w;
  int64_t pool_h, pool_w;
  int64_t stride_h, stride_w;
  int64_t pad_top, pad_left;
};

}  // namespace pycnn

#define PYCNN_POOL_KERNELS                                                                 \
  /* y = window max; argmax (nullable) = spatial index iy * in_w + ix of the first max. */ \
  void max_pool2d_forward(const ::pycnn::PoolGeometry& g, const float* x, float* y,        \
                          int32_t* argmax);                                                \
  /* dx[argmax] += dy in window order; dx is fully overwritten. With the window geometry    \
     (pool_h > 0) a parallel gather over rows of dx, else a scatter per sample. relu_y      \
     (nullable, shaped like dy) is the pool's output when a ReLU feeds the pool: dy is then \
     gated by relu_y > 0, so dx is the gradient before the ReLU (relu_y = the ReLU output   \
     at the argmax, and ReLU's derivative there is relu_y > 0). */                          \
  void max_pool2d_backward(const ::pycnn::PoolGeometry& g, const float* dy,                \
                           const int32_t* argmax, const float* relu_y, float* dx);         \
  void avg_pool2d_forward(const ::pycnn::PoolGeometry& g, const float* x, float* y);       \
  /* dx = sum over the windows holding each pixel of dy / window count (a gather). */       \
  void avg_pool2d_backward(const ::pycnn::PoolGeometry& g, const float* dy, float* dx);     \
  /* y (N, H + top + bottom, W + left + right, C) = x with zero borders. */                   \
  void zero_pad2d(const float* x, int64_t batch, int64_t in_h, int64_t in_w,               \
                  int64_t channels, int64_t top, int64_t bottom, int64_t left,             \
                  int64_t right, float* y);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_POOL_KERNELS)
