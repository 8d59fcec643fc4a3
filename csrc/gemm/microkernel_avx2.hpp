// AVX2 + FMA micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators
// (plus 2 for B and 1 broadcast: all 16 ymm registers, no spills).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "gemm/tile_store.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

constexpr int kMR = 6;
constexpr int kNR = 16;
// Cache blocks (KC, MC, NC) are chosen at run time: sgemm.cpp, choose_blocking.

static inline __m256 store_transform(__m256 acc, const float* c, const TileStore& out,
                                     const float* bias) {
  __m256 v = _mm256_mul_ps(acc, _mm256_set1_ps(out.alpha));
  if (out.beta != 0.0f) v = _mm256_fmadd_ps(_mm256_set1_ps(out.beta), _mm256_loadu_ps(c), v);
  if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
  if (out.act == RegisterAct::relu) {
    // Not max_ps(v, 0), which gives 0 for NaN: keep v where !(v <= 0), so
    // relu(NaN) = NaN as in Keras/JAX (same as the scalar `v <= 0 ? 0 : v`).
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ));
  } else if (out.act == RegisterAct::leaky_relu) {
    __m256 positive = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
    v = _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(out.slope)), v, positive);
  }
  return v;
}

// kPackedA: ap is a packed panel (kMR floats per k step); else ap is A in
// place, row r at ap + r * lda, one float per k step (few rows: no packing).
template <int R = kMR, bool kPackedA = true>  // R: rows of the tile computed (R <= kMR)
static inline void micro_kernel(int64_t kc, const float* __restrict ap, int64_t lda,
                                const float* __restrict bp, int64_t ldbp, float* c, int64_t ldc,
                                const TileStore& out) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    lo[r] = _mm256_setzero_ps();
    hi[r] = _mm256_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p) {
    // Deep K slices leave the panels in L2: fetch them ahead into L1.
    _mm_prefetch(reinterpret_cast<const char*>(bp + 16 * ldbp), _MM_HINT_T0);
    if (kPackedA) _mm_prefetch(reinterpret_cast<const char*>(ap + 32 * kMR), _MM_HINT_T0);
    __m256 b0 = _mm256_loadu_ps(bp);
    __m256 b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      __m256 av = _mm256_broadcast_ss(kPackedA ? ap + r : ap + r * lda);
      lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
    }
    ap += kPackedA ? kMR : 1;
    bp += ldbp;
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    _mm256_storeu_ps(cr, store_transform(lo[r], cr, out, out.bias));
    _mm256_storeu_ps(cr + 8,
                     store_transform(hi[r], cr + 8, out, out.bias ? out.bias + 8 : nullptr));
  }
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
