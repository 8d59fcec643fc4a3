// Branch-free float math the compiler can vectorise (std::exp/erf/log1p are
// library calls that stop vectorisation without -ffast-math). Each function
// is accurate to a few float ulps (relative error well under 1e-6) over the
// ranges activations use. `static inline`: compiled once per ISA.
#pragma once
#include <cstdint>
#include <cstring>

namespace pycnn {
namespace vmath {

static inline float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

static inline uint32_t float_to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// e^x. x = n ln2 + r with |r| <= ln2/2; e^r by its Taylor series to r^7
// (truncation < 1e-8 relative); 2^n built in the exponent bits. Below
// -87.3 (e^x < FLT_MIN) the result is 0; above 88.7 it is +inf.
static inline float exp(float x) {
  const float xc = clampf(x, -87.3f, 88.7f);
  // Round to nearest by adding and removing 1.5 * 2^23 (floorf is a library
  // call without SSE4.1, which would stop vectorisation on the generic path).
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693145751953125f;  // ln2 split in two parts so
  r = r - n * 1.42860682030941723e-6f;    // n*ln2_hi is exact
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^(n-1) * 2 keeps n = 128 (x near 88.7) representable.
  const float scale = bits_to_float(static_cast<uint32_t>(static_cast<int32_t>(n) + 126) << 23);
  float result = p * scale * 2.0f;
  result = x < -87.3f ? 0.0f : result;
  return x > 88.7f ? __builtin_inff() : result;
}

// e^x - 1 without cancellation near 0: Taylor series for |x| < 0.5.
static inline float expm1(float x) {
  float p = 1.0f / 3628800.0f;
  p = p * x + 1.0f / 362880.0f;
  p = p * x + 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  p = p * x + 1.0f;
  const float small = p * x;
  const float large = exp(x) - 1.0f;
  return __builtin_fabsf(x) < 0.5f ? small : large;
}

// Natural log of a positive normal float: m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, series to s^13.
static inline float log(float x) {
  uint32_t bits = float_to_bits(x);
  // Shift so the mantissa lands in [sqrt(1/2), sqrt(2)).
  const uint32_t shifted = bits - 0x3f3504f3u;
  const int32_t e = static_cast<int32_t>(shifted) >> 23;
  const float m = bits_to_float((shifted & 0x007fffffu) + 0x3f3504f3u);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float p = 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return static_cast<float>(e) * 0.693147180559945309f + 2.0f * s * p;
}

// log(1 + t) for t >= 0, exact to rounding for tiny t: the classic
// correction log(u) * t / (u - 1) with u = 1 + t cancels u's rounding.
static inline float log1p_nonneg(float t) {
  const float u = 1.0f + t;
  const float d = u - 1.0f;
  const float corrected = log(u) * (t / (d == 0.0f ? 1.0f : d));
  return d == 0.0f ? t : corrected;
}

static inline float sigmoid(float x) {
  const float e = exp(-__builtin_fabsf(x));  // never overflows
  const float pos = 1.0f / (1.0f + e);
  return x >= 0.0f ? pos : e * pos;
}

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
static inline float softplus(float x) {
  return (x > 0.0f ? x : 0.0f) + log1p_nonneg(exp(-__builtin_fabsf(x)));
}

// tanh|x| = em1 / (em1 + 2) with em1 = e^(2|x|) - 1 (no cancellation near 0).
static inline float tanh(float x) {
  const float ax = __builtin_fabsf(x);
  const float em1 = expm1(2.0f * (ax < 20.0f ? ax : 20.0f));
  const float t = em1 / (em1 + 2.0f);
  return x < 0.0f ? -t : t;
}

// Split x = hi + lo with hi keeping 12 significant bits, so hi * hi is exact.
static inline float high_part(float x) { return bits_to_float(float_to_bits(x) & 0xFFFFF000u); }

// e^(extra - x^2/2) without the rounding error of x*x, which e^ would
// magnify (x^2/2 = 50 rounds by ~3e-6): x^2 = hi^2 (exact) + (x + hi) * lo.
static inline float exp_minus_half_square(float x, float extra) {
  const float hi = high_part(x);
  const float lo = x - hi;
  return exp(-0.5f * hi * hi) * exp(extra - 0.5f * (x + hi) * lo);
}

// Phi(x) = P(N(0,1) <= x) = erfc(-x/sqrt2)/2, accurate in both tails.
// erfc(z) = t * exp(poly(t) - z^2), t = 1 / (1 + z/2): the Chebyshev fit of
// Numerical Recipes' erfcc (relative error below 1.2e-7).
static inline float normal_cdf(float x) {
  const float ax = __builtin_fabsf(x);
  const float t = 1.0f / (1.0f + 0.5f * 0.70710678118654752f * ax);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float half_tail = 0.5f * t * exp_minus_half_square(ax, p);
  return x < 0.0f ? half_tail : 1.0f - half_tail;
}

// Standard normal density e^(-x^2/2) / sqrt(2 pi).
static inline float normal_pdf(float x) {
  return 0.39894228040143268f * exp_minus_half_square(x, 0.0f);
}

}  // namespace vmath
}  // namespace pycnn
