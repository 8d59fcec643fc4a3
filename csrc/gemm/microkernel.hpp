// Picks the register-blocked micro-kernel (and its tile sizes kMR, kNR) for
// the ISA this translation unit is compiled for, and micro_kernel_rows(): the
// same kernel on only the first `rows` rows
// (a compile-time count each, so the accumulators stay in registers).
#pragma once

#if defined(__AVX512F__)
#include "gemm/microkernel_avx512.hpp"
#elif defined(__AVX2__) && defined(__FMA__)
#include "gemm/microkernel_avx2.hpp"
#else
#include "gemm/microkernel_generic.hpp"
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

// Rows past the end of A are skipped rather than computed on zero padding:
// a 1-row GEMV then costs 1/kMR of a full tile, not all of it.
// lda < 0: ap is a packed panel; else A in place, rows lda floats apart.
template <int R = kMR>
static inline void micro_kernel_rows(int rows, int64_t kc, const float* ap, int64_t lda,
                                     const float* bp, int64_t ldbp, float* c, int64_t ldc,
                                     const TileStore& out) {
  if constexpr (R > 1) {
    if (rows < R) return micro_kernel_rows<R - 1>(rows, kc, ap, lda, bp, ldbp, c, ldc, out);
  }
  if (lda < 0)
    micro_kernel<R, true>(kc, ap, 0, bp, ldbp, c, ldc, out);
  else
    micro_kernel<R, false>(kc, ap, lda, bp, ldbp, c, ldc, out);
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
