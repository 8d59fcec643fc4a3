// Elementwise sum of several same-shaped inputs with an activation after it:
// the Add merge layer, and in inference Add -> ReLU of residual blocks in one
// pass (the sum never makes a round trip through memory before the ReLU).
#include <algorithm>

#include "act/act.hpp"
#include "act/act_math.hpp"
#include "core/threading.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

namespace {
constexpr int64_t kSumChunk = 4096;  // a chunk stays in L1 between sum and activation
}  // namespace

void sum_act_forward(const float* const* xs, int count, int64_t n, Act act, float act_param,
                     float* y) {
  if (n <= 0 || count <= 0) return;
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  const int nt = threads_for_work(static_cast<double>(count + 1) * static_cast<double>(n));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kSumChunk, len = std::min(kSumChunk, n - begin);
    float* __restrict out = y + begin;
    const float* a = xs[0] + begin;
    if (count == 1) {
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) out[i] = a[i];
    } else {
      // Left to right, as x0 + x1 + x2 in NumPy: the same bits.
      const float* b = xs[1] + begin;
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) out[i] = a[i] + b[i];
      for (int k = 2; k < count; ++k) {
        const float* __restrict v = xs[k] + begin;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) out[i] += v[i];
      }
    }
    if (act != Act::linear) actmath::apply_row(act, act_param, out, nullptr, out, len);
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
