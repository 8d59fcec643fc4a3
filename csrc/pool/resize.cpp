// One axis of a separable resize: every output block (a row of W * C floats
// for the height pass, a pixel of C floats for the width pass) is a weighted
// sum of a few input blocks, vectorised over the block.
#include <cstring>

#include "core/threading.hpp"
#include "pool/resize.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

void resample_axis(const float* x, int64_t outer, int64_t in_len, int64_t out_len,
                   int64_t inner, const int64_t* offsets, const int64_t* index,
                   const float* weights, float* y) {
  const int64_t blocks = outer * out_len;
  const double taps = out_len > 0 ? static_cast<double>(offsets[out_len]) : 0.0;
  const int nt = threads_for_work(2.0 * outer * taps * inner);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t o = b / out_len, j = b % out_len;
    float* __restrict dst = y + b * inner;
    const float* xs = x + o * in_len * inner;
    const int64_t t0 = offsets[j], t1 = offsets[j + 1];
    if (t0 == t1) {
      std::memset(dst, 0, sizeof(float) * inner);
      continue;
    }
    {
      const float* __restrict src = xs + index[t0] * inner;
      const float w = weights[t0];
#pragma omp simd
      for (int64_t c = 0; c < inner; ++c) dst[c] = w * src[c];
    }
    for (int64_t t = t0 + 1; t < t1; ++t) {
      const float* __restrict src = xs + index[t] * inner;
      const float w = weights[t];
#pragma omp simd
      for (int64_t c = 0; c < inner; ++c) dst[c] += w * src[c];
    }
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
