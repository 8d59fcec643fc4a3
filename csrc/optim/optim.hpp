// Fused optimizer updates: one pass over a variable updates the parameter and
// its slot arrays in place, following Keras 3's update rules exactly.
// `decay` is Keras's decoupled weight decay folded in first:
// param -= param * decay, with decay = weight_decay * learning_rate (0: off).
// Optional slots are nullptr when the option is off.
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"

namespace pycnn {
// Fused multi-tensor steps. hyper[] per kind:
//   sgd:     lr, momentum, nesterov (0/1)          slots: momentum_buf
//   adam:    alpha (bias-corrected), beta_1, beta_2, epsilon
//                                                  slots: m, v, velocity_hat
//   rmsprop: lr, rho, momentum, epsilon            slots: velocity, momentum_buf, average_grad
//   adagrad: lr, epsilon                           slots: accumulator
enum class OptimizerKind : int { sgd = 0, adam = 1, rmsprop = 2, adagrad = 3 };
constexpr int kMaxOptimizerSlots = 3;
}  // namespace pycnn

#define PYCNN_OPTIM_KERNELS                                                                   \
  /* momentum_buf == nullptr: plain SGD. */                                                   \
  void sgd_update(float* param, const float* grad, float* momentum_buf, int64_t n, float lr,  \
                  float momentum, bool nesterov, float decay);                                \
  /* alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t); velocity_hat for amsgrad. */          \
  void adam_update(float* param, const float* grad, float* m, float* v, float* velocity_hat,  \
                   int64_t n, float alpha, float beta_1, float beta_2, float epsilon,         \
                   float decay);                                                              \
  /* momentum_buf used when momentum > 0; average_grad when centered. */                     \
  void rmsprop_update(float* param, const float* grad, float* velocity, float* momentum_buf,  \
                      float* average_grad, int64_t n, float lr, float rho, float momentum,    \
                      float epsilon, float decay);                                            \
  void adagrad_update(float* param, const float* grad, float* accumulator, int64_t n,         \
                      float lr, float epsilon, float decay);                                  \
  /* Adam on a 2-D param (rows x cols) whose gradient is the outer-product sum            */ \
  /* a^T b, a (batch x rows), b (batch x cols) - a Dense kernel's x^T dz - computed block   */ \
  /* by block in cache instead of read from memory: g[k][n] = sum over i in order of      */ \
  /* a[i][k] * b[i][n], then the element-wise update of adam_update.                      */ \
  void adam_update_outer(float* param, const float* a, const float* b, int64_t batch,        \
                         int64_t rows, int64_t cols, float* m, float* v, float* velocity_hat, \
                         float alpha, float beta_1, float beta_2, float epsilon, float decay); \
  /* Largest |x[i]| (x finite). */                                                           \
  void max_abs(const float* x, int64_t n, float* out);                                       \
  /* True when every grad[i] is finite (checked before a fused step writes). */               \
  void all_finite(const float* grad, int64_t n, bool* finite);                                \
  /* Index of the first of `count` gradients holding NaN/Inf, or -1. */                      \
  void first_nonfinite(const float* const* grads, const int64_t* sizes, int64_t count,       \
                       int64_t* index);                                                       \
  /* One step over `count` variables (multi-tensor): slots[k][i] is slot k of variable i  */  \
  /* (nullptr for an unused option), decays[i] its weight decay (0: none). hyper holds the */ \
  /* optimizer's scalars in the order of ::pycnn::OptimizerKind (see bind_optim.cpp).      */ \
  void fused_update(::pycnn::OptimizerKind kind, float* const* params,                        \
                    const float* const* grads, float* const* const* slots,                    \
                    const int64_t* sizes, const float* decays, int64_t count,                 \
                    const float* hyper);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_OPTIM_KERNELS)
