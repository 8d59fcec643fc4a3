// Activation kernels: forward, backward, bias gradient, fused bias + act,
// inverted Dropout. Arrays are C-contiguous float32 seen as rows x cols
// (cols = last axis; only softmax and bias care about rows).
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"
#include "core/types.hpp"

#define PYCNN_ACT_KERNELS                                                                   \
  /* y = act(x); softmax over each row. y may alias x. */                                 \
  void act_forward(const float* x, float* y, int64_t rows, int64_t cols, ::pycnn::Act act,  \
                   float act_param);                                                        \
  /* y = act(x + bias[col]). */                                                             \
  void bias_act_forward(const float* x, const float* bias, float* y, int64_t rows,          \
                        int64_t cols, ::pycnn::Act act, float act_param);                   \
  /* dx = dy * act'(x); x may be null except for gelu, swish (and leaky_relu with a       \
     negative slope): the other codes are differentiated from y. */                       \
  void act_backward(const float* x, const float* y, const float* dy, float* dx,            \
                    int64_t rows, int64_t cols, ::pycnn::Act act, float act_param);         \
  /* db[c] = sum over rows of dy[r, c]; same bits with any thread count. */                \
  void bias_grad(const float* dy, float* db, int64_t rows, int64_t cols);                   \
  /* mask[i] = scale if hash(seed, i) >= keep_threshold else 0; y = x * mask. */          \
  void dropout_forward(const float* x, float* y, float* mask, int64_t n, uint64_t seed,    \
                       uint32_t keep_threshold, float scale);                               \
  /* out = a * b elementwise (Dropout backward: dy * mask). */                             \
  void multiply(const float* a, const float* b, float* out, int64_t n);                     \
  /* y = act(xs[0] + xs[1] + ...), summed left to right; no softmax. y may alias xs[0]. */  \
  void sum_act_forward(const float* const* xs, int count, int64_t n, ::pycnn::Act act,      \
                       float act_param, float* y);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_ACT_KERNELS)
