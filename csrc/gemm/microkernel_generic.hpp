// Portable micro-kernel: plain loops over a 6 x 8 tile that the compiler keeps
// in (SSE2 / NEON) vector registers and vectorizes along the 8 columns.
#pragma once
#include <cstdint>

#include "gemm/tile_store.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

constexpr int kMR = 6;
constexpr int kNR = 8;
// Cache blocks (KC, MC, NC) are chosen at run time: sgemm.cpp, choose_blocking.

// kPackedA: ap is a packed panel (kMR floats per k step); else ap is A in
// place, row r at ap + r * lda, one float per k step (few rows: no packing).
template <int R = kMR, bool kPackedA = true>  // R: rows of the tile computed (R <= kMR)
static inline void micro_kernel(int64_t kc, const float* __restrict ap, int64_t lda,
                                const float* __restrict bp, int64_t ldbp, float* c, int64_t ldc,
                                const TileStore& out) {
  float acc[R][kNR] = {};
  for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const float av = kPackedA ? ap[r] : ap[r * lda];
#pragma GCC unroll 8
      for (int j = 0; j < kNR; ++j) acc[r][j] += av * bp[j];
    }
    ap += kPackedA ? kMR : 1;
    bp += ldbp;
  }
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < kNR; ++j) {
      float v = out.alpha * acc[r][j];
      if (out.beta != 0.0f) v += out.beta * cr[j];
      if (out.bias) v += out.bias[j];
      if (out.act == RegisterAct::relu) v = v <= 0.0f ? 0.0f : v;  // NaN stays NaN
      else if (out.act == RegisterAct::leaky_relu) v = v > 0.0f ? v : out.slope * v;
      cr[j] = v;
    }
  }
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
