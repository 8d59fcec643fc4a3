// Scalar helpers shared by the loss kernels (static inline: compiled per ISA).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/threading.hpp"

namespace pycnn {
namespace lossmath {

// Keras backend.epsilon(): probabilities are clipped to [eps, 1 - eps].
static constexpr float kEpsilon = 1e-7f;
static constexpr float kOneMinusEpsilon = 1.0f - 1e-7f;

static inline float clip_probability(float p) {
  return p < kEpsilon ? kEpsilon : (p > kOneMinusEpsilon ? kOneMinusEpsilon : p);
}

// Derivative of the clip: 1 strictly inside, 0 outside, 1/2 exactly on a
// bound (JAX's min/max split the gradient between equal arguments).
static inline float clip_probability_slope(float p) {
  if (p > kEpsilon && p < kOneMinusEpsilon) return 1.0f;
  if (p == kEpsilon || p == kOneMinusEpsilon) return 0.5f;
  return 0.0f;
}

static inline float row_scale_at(const float* row_scale, int64_t r) {
  return row_scale ? row_scale[r] : 1.0f;
}

// Threads for `rows` rows of `cols` elements, ~`flops_per_element` each.
static inline int loss_threads(int64_t rows, int64_t cols, double flops_per_element) {
  return threads_for_work(static_cast<double>(rows) * cols * flops_per_element);
}

}  // namespace lossmath
}  // namespace pycnn
