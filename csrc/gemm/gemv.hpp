// m == 1 with a row-major B: C row = alpha * a . B + beta * C row, streaming B
// one contiguous row at a time (the blocked path would read it in 32-column
// strips, and a 1-row tile leaves the FMA units mostly idle). Columns are
// split across threads in fixed, aligned chunks; each column is summed in k
// order, so results do not depend on the thread count. A row of at most 16
// columns (never split) sums k in 8 interleaved phases instead (AVX-512).
#pragma once
#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gemm/epilogue_scalar.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

constexpr int64_t kGemvChunk = 512;  // columns per task: a 2 KB accumulator in L1

#if defined(__AVX512F__)
// acc[0, w) = a . B[:, j0 : j0 + w) for w <= 16 (a batch-1 classifier head):
// kPhases register accumulators take every kPhases-th k and are summed in a
// fixed order at the end. One accumulator in memory (the loop below) chains
// every FMA on a store and a load: 1568 x 10 ran ~4x slower.
static inline void gemv_narrow_avx512(int64_t k, const float* a, int64_t a_step, const float* b,
                                      int64_t ldb, int64_t w, float* acc) {
  constexpr int kPhases = 8;
  const __mmask16 lanes = static_cast<__mmask16>(w >= 16 ? 0xFFFF : (1u << w) - 1u);
  __m512 part[kPhases];
#pragma GCC unroll 8
  for (int s = 0; s < kPhases; ++s) part[s] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + kPhases <= k; p += kPhases) {
#pragma GCC unroll 8
    for (int s = 0; s < kPhases; ++s)
      part[s] = _mm512_fmadd_ps(_mm512_set1_ps(a[(p + s) * a_step]),
                                _mm512_maskz_loadu_ps(lanes, b + (p + s) * ldb), part[s]);
  }
  for (; p < k; ++p)
    part[0] = _mm512_fmadd_ps(_mm512_set1_ps(a[p * a_step]),
                              _mm512_maskz_loadu_ps(lanes, b + p * ldb), part[0]);
  const __m512 sum = _mm512_add_ps(
      _mm512_add_ps(_mm512_add_ps(part[0], part[1]), _mm512_add_ps(part[2], part[3])),
      _mm512_add_ps(_mm512_add_ps(part[4], part[5]), _mm512_add_ps(part[6], part[7])));
  _mm512_mask_storeu_ps(acc, lanes, sum);
}
#endif

// c[j0, j0 + w) = alpha * acc + beta * c, then the epilogue.
static inline void finish_columns(float alpha, float beta, float* c, const Epilogue* ep,
                                  int64_t j0, int64_t w, const float* acc) {
  float* cr = c + j0;
  for (int64_t j = 0; j < w; ++j) cr[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * cr[j]);
  if (ep) {
    Epilogue part = *ep;
    if (part.bias) part.bias += j0;
    epilogue_row(cr, w, &part);
  }
}

// Columns [j0, j1) of the row. acc: j1 - j0 floats of scratch.
static inline void gemv_columns(int64_t k, float alpha, const float* a, int64_t a_step,
                                const float* b, int64_t ldb, float beta, float* c,
                                const Epilogue* ep, int64_t j0, int64_t j1, float* acc) {
  const int64_t w = j1 - j0;
  for (int64_t j = 0; j < w; ++j) acc[j] = 0.0f;
  for (int64_t p = 0; p < k; ++p) {
    const float av = a[p * a_step];
    const float* __restrict row = b + p * ldb + j0;
    float* __restrict out = acc;
#pragma omp simd
    for (int64_t j = 0; j < w; ++j) out[j] += av * row[j];
  }
  finish_columns(alpha, beta, c, ep, j0, w, acc);
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
