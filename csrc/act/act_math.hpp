// Scalar activation formulas (Keras 3 definitions), inlined into kernels.
// `static inline` on purpose: this header is compiled once per ISA.
#pragma once
#include <cmath>

#include "core/types.hpp"

namespace pycnn {
namespace actmath {

constexpr float kSeluAlpha = 1.67326324235437728481f;
constexpr float kSeluScale = 1.05070098735548049342f;

static inline float sigmoid(float x) {
  // Two branches keep exp() from overflowing for large |x|.
  if (x >= 0.0f) {
    float e = std::exp(-x);
    return 1.0f / (1.0f + e);
  }
  float e = std::exp(x);
  return e / (1.0f + e);
}

static inline float softplus(float x) {
  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
  return std::fmax(x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
}

static inline float apply(Act act, float x, float p) {
  switch (act) {
    case Act::relu: return x > 0.0f ? x : 0.0f;
    case Act::sigmoid: return sigmoid(x);
    case Act::tanh: return std::tanh(x);
    case Act::elu: return x > 0.0f ? x : std::expm1(x);
    case Act::selu: return kSeluScale * (x > 0.0f ? x : kSeluAlpha * std::expm1(x));
    case Act::gelu: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Act::swish: return x * sigmoid(x);
    case Act::leaky_relu: return x > 0.0f ? x : p * x;
    case Act::softplus: return softplus(x);
    default: return x;
  }
}

// d act / dx, from the pre-activation x and the output y = act(x).
static inline float derivative(Act act, float x, float y, float p) {
  switch (act) {
    case Act::relu: return x > 0.0f ? 1.0f : 0.0f;
    case Act::sigmoid: return y * (1.0f - y);
    case Act::tanh: return 1.0f - y * y;
    case Act::elu: return x > 0.0f ? 1.0f : y + 1.0f;
    case Act::selu: return x > 0.0f ? kSeluScale : y + kSeluScale * kSeluAlpha;
    case Act::gelu: {
      float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
      float pdf = 0.39894228040143268f * std::exp(-0.5f * x * x);
      return cdf + x * pdf;
    }
    case Act::swish: {
      float s = sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case Act::leaky_relu: return x > 0.0f ? 1.0f : p;
    case Act::softplus: return sigmoid(x);
    default: return 1.0f;
  }
}

}  // namespace actmath
}  // namespace pycnn
