// Activation formulas (Keras 3 definitions), inlined into kernels.
// `static inline` on purpose: this header is compiled once per ISA.
// Built on vec_math.hpp so loops over these functions vectorise; for that,
// call them from a loop whose activation is fixed (apply_row, or a switch
// outside the loop), not from a switch inside the loop.
#pragma once
#include <cstdint>

#include "act/vec_math.hpp"
#include "core/types.hpp"

namespace pycnn {
namespace actmath {

constexpr float kSeluAlpha = 1.67326324235437728481f;
constexpr float kSeluScale = 1.05070098735548049342f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

static inline float sigmoid(float x) { return vmath::sigmoid(x); }
static inline float softplus(float x) { return vmath::softplus(x); }

// NaN stays NaN (as Keras/JAX's maximum); -0 becomes +0.
static inline float relu(float x, float) { return x <= 0.0f ? 0.0f : x; }
static inline float sigmoid_(float x, float) { return vmath::sigmoid(x); }
static inline float tanh_(float x, float) { return vmath::tanh(x); }
static inline float elu(float x, float) { return x > 0.0f ? x : vmath::expm1(x); }
static inline float selu(float x, float) {
  return kSeluScale * (x > 0.0f ? x : kSeluAlpha * vmath::expm1(x));
}
static inline float gelu(float x, float) { return x * vmath::normal_cdf(x); }
static inline float swish(float x, float) { return x * vmath::sigmoid(x); }
static inline float leaky_relu(float x, float slope) { return x > 0.0f ? x : slope * x; }
static inline float softplus_(float x, float) { return vmath::softplus(x); }
// Keras 3's relu6(x + 3) / 6; comparisons rather than fmin/fmax keep NaN.
static inline float hard_sigmoid(float x, float) {
  float t = x + 3.0f;
  t = t < 0.0f ? 0.0f : t;
  t = t > 6.0f ? 6.0f : t;
  return t / 6.0f;
}

static inline float apply(Act act, float x, float p) {
  switch (act) {
    case Act::relu: return relu(x, p);
    case Act::sigmoid: return sigmoid_(x, p);
    case Act::tanh: return tanh_(x, p);
    case Act::elu: return elu(x, p);
    case Act::selu: return selu(x, p);
    case Act::gelu: return gelu(x, p);
    case Act::swish: return swish(x, p);
    case Act::leaky_relu: return leaky_relu(x, p);
    case Act::softplus: return softplus_(x, p);
    case Act::hard_sigmoid: return hard_sigmoid(x, p);
    default: return x;
  }
}

// out[i] = f(in[i] (+ bias[i])) for i < n, one vectorised loop per code.
// `in` may equal `out`; bias may be null. Softmax (code 10) is not
// elementwise and is left to the act kernels (treated as linear here).
template <float (*F)(float, float)>
static inline void map_row(const float* in, const float* bias, float* out, int64_t n, float p) {
  if (bias) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = F(in[i] + bias[i], p);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = F(in[i], p);
  }
}

static inline float identity(float x, float) { return x; }

static inline void apply_row(Act act, float p, const float* in, const float* bias, float* out,
                             int64_t n) {
  switch (act) {
    case Act::relu: return map_row<relu>(in, bias, out, n, p);
    case Act::sigmoid: return map_row<sigmoid_>(in, bias, out, n, p);
    case Act::tanh: return map_row<tanh_>(in, bias, out, n, p);
    case Act::elu: return map_row<elu>(in, bias, out, n, p);
    case Act::selu: return map_row<selu>(in, bias, out, n, p);
    case Act::gelu: return map_row<gelu>(in, bias, out, n, p);
    case Act::swish: return map_row<swish>(in, bias, out, n, p);
    case Act::leaky_relu: return map_row<leaky_relu>(in, bias, out, n, p);
    case Act::softplus: return map_row<softplus_>(in, bias, out, n, p);
    case Act::hard_sigmoid: return map_row<hard_sigmoid>(in, bias, out, n, p);
    default: return map_row<identity>(in, bias, out, n, p);
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
    case Act::gelu:
      return vmath::normal_cdf(x) + x * vmath::normal_pdf(x);
    case Act::swish: {
      float s = vmath::sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case Act::leaky_relu: return x > 0.0f ? 1.0f : p;
    case Act::softplus: return vmath::sigmoid(x);
    case Act::hard_sigmoid: return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
    default: return 1.0f;
  }
}

}  // namespace actmath
}  // namespace pycnn
