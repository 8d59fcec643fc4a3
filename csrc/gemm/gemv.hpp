// m == 1 with a row-major B: C row = alpha * a . B + beta * C row, streaming B
// one contiguous row at a time (the blocked path would read it in 32-column
// strips, and a 1-row tile leaves the FMA units mostly idle). Columns are
// split across threads in fixed, aligned chunks; each column is summed in k
// order, so results do not depend on the thread count.
#pragma once
#include <cstdint>

#include "gemm/epilogue_scalar.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

constexpr int64_t kGemvChunk = 512;  // columns per task: a 2 KB accumulator in L1

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
  float* cr = c + j0;
  for (int64_t j = 0; j < w; ++j) cr[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * cr[j]);
  if (ep) {
    Epilogue part = *ep;
    if (part.bias) part.bias += j0;
    epilogue_row(cr, w, &part);
  }
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
