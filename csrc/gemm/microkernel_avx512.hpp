// AVX-512 micro-kernel: a 14 x 32 tile of C lives in 28 zmm accumulators.
// Per k step: two 16-float loads of packed B, fourteen broadcasts of packed A
// (folded into the FMAs as embedded broadcasts), 28 FMAs. 28 independent FMA
// chains cover Zen 5's 2 FMA pipes x 4-cycle latency with room to spare.
#pragma once


#include <immintrin.h>

#include <cstdint>

#include "gemm/tile_store.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

constexpr int kMR = 14;
constexpr int kNR = 32;
// Cache blocks (KC, MC, NC) are chosen at run time: sgemm.cpp, choose_blocking.

static inline __m512 store_transform(__m512 acc, const float* c, const TileStore& out,
                                     const float* bias) {
  __m512 v = _mm512_mul_ps(acc, _mm512_set1_ps(out.alpha));
  if (out.beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(out.beta), _mm512_loadu_ps(c), v);
  if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias));
  if (out.act == RegisterAct::relu) {
    // Keep v where !(v <= 0): positives and NaN (relu(NaN) = NaN, as Keras/JAX);
    // same result as the scalar `v <= 0 ? 0 : v`, -0 included.
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ), v);
  } else if (out.act == RegisterAct::leaky_relu) {
    __mmask16 positive = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
    v = _mm512_mask_blend_ps(positive, _mm512_mul_ps(v, _mm512_set1_ps(out.slope)), v);
  }
  return v;
}

// Stores an R x Q-vector tile under the rule `out` (store_transform). The
// common rules (alpha 1, beta 0 or 1, linear or ReLU) get a loop of their own
// with the rule in template arguments and the bias in registers: through
// store_transform the rule was tested per vector and `out` re-read after each
// store (C's floats may alias it), ~10% of a tile with a 64-step K loop (a 1x1
// conv over 64 channels). Same arithmetic, so the same bits.
// Forced inline: out of line, the accumulators would go through memory.
template <int R, int Q, bool kBeta, bool kBias, bool kRelu>
static inline __attribute__((always_inline)) void store_tile_common(const __m512 (&acc)[R][Q],
                                                                    float* c, int64_t ldc,
                                                                    const float* bias) {
  __m512 b[Q];
#pragma GCC unroll 4
  for (int q = 0; q < Q; ++q) b[q] = kBias ? _mm512_loadu_ps(bias + 16 * q) : _mm512_setzero_ps();
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) {
      float* p = c + r * ldc + 16 * q;
      __m512 v = acc[r][q];
      if (kBeta) v = _mm512_add_ps(_mm512_loadu_ps(p), v);
      if (kBias) v = _mm512_add_ps(v, b[q]);
      if (kRelu)  // as store_transform: NaN kept, -0 to +0
        v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ), v);
      _mm512_storeu_ps(p, v);
    }
}

template <int R, int Q>
static inline __attribute__((always_inline)) void store_tile(const __m512 (&acc)[R][Q], float* c,
                                                             int64_t ldc, const TileStore& out) {
  const TileStore o = out;  // a local copy: C's stores cannot change it
  // Rows whose vectors straddle cache lines (C's rows not 64 B apart: n = 1000)
  // keep store_transform: the common loop's back-to-back split stores measured
  // 0.78-0.88x of it there.
  const bool lines = ((reinterpret_cast<uintptr_t>(c) | static_cast<uintptr_t>(ldc) * 4) & 63) == 0;
  const bool common = lines && o.alpha == 1.0f && (o.beta == 0.0f || o.beta == 1.0f) &&
                      (o.act == RegisterAct::none || o.act == RegisterAct::relu);
  if (common) {
    const bool beta = o.beta != 0.0f, bias = o.bias != nullptr, relu = o.act == RegisterAct::relu;
    switch (beta * 4 + bias * 2 + relu) {
#define PYCNN_STORE_CASE(N)                                                                   \
  case N:                                                                                     \
    return store_tile_common<R, Q, (N & 4) != 0, (N & 2) != 0, (N & 1) != 0>(acc, c, ldc, o.bias);
      PYCNN_STORE_CASE(0) PYCNN_STORE_CASE(1) PYCNN_STORE_CASE(2) PYCNN_STORE_CASE(3)
      PYCNN_STORE_CASE(4) PYCNN_STORE_CASE(5) PYCNN_STORE_CASE(6) PYCNN_STORE_CASE(7)
#undef PYCNN_STORE_CASE
    }
  }
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) {
      float* p = c + r * ldc + 16 * q;
      _mm512_storeu_ps(p, store_transform(acc[r][q], p, o, o.bias ? o.bias + 16 * q : nullptr));
    }
}

// ap: kc x kMR packed A (row index fastest). bp: kc rows of kNR floats of B,
// ldbp apart (kNR: B is always packed).
// kPackedA: ap is a packed panel (kMR floats per k step); else ap is A in
// place, row r at ap + r * lda, one float per k step (few rows: no packing).
template <int R = kMR, bool kPackedA = true>  // R: rows of the tile computed (R <= kMR)
static inline void micro_kernel(int64_t kc, const float* __restrict ap, int64_t lda,
                                const float* __restrict bp, int64_t ldbp, float* c, int64_t ldc,
                                const TileStore& out) {
  __m512 lo[R], hi[R];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    lo[r] = _mm512_setzero_ps();
    hi[r] = _mm512_setzero_ps();
  }
  int64_t p = 0;
  if constexpr (R <= 3) {
    // Few rows (a batch-1 Dense): 2R accumulators are too few chains to hide
    // the FMA latency, so kSplit interleaved K phases get their own, summed
    // in a fixed order at the end (1568x10 at batch 1: ~4x faster).
    constexpr int kSplit = R == 1 ? 4 : 2;
    __m512 plo[kSplit - 1][R], phi[kSplit - 1][R];
#pragma GCC unroll 4
    for (int s = 0; s < kSplit - 1; ++s)
#pragma GCC unroll 3
      for (int r = 0; r < R; ++r) {
        plo[s][r] = _mm512_setzero_ps();
        phi[s][r] = _mm512_setzero_ps();
      }
    for (; p + kSplit <= kc; p += kSplit) {
#pragma GCC unroll 4
      for (int s = 0; s < kSplit; ++s) {
        _mm_prefetch(reinterpret_cast<const char*>(bp + (16 + s) * ldbp), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(bp + (16 + s) * ldbp + 16), _MM_HINT_T0);
        const __m512 b0 = _mm512_loadu_ps(bp + s * ldbp);
        const __m512 b1 = _mm512_loadu_ps(bp + s * ldbp + 16);
#pragma GCC unroll 3
        for (int r = 0; r < R; ++r) {
          const __m512 av = _mm512_set1_ps(kPackedA ? ap[s * kMR + r] : ap[r * lda + s]);
          if (s == 0) {
            lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
            hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
          } else {
            plo[s - 1][r] = _mm512_fmadd_ps(av, b0, plo[s - 1][r]);
            phi[s - 1][r] = _mm512_fmadd_ps(av, b1, phi[s - 1][r]);
          }
        }
      }
      ap += kPackedA ? kSplit * kMR : kSplit;
      bp += kSplit * ldbp;
    }
#pragma GCC unroll 3
    for (int r = 0; r < R; ++r) {
      if constexpr (kSplit == 4) {
        lo[r] = _mm512_add_ps(_mm512_add_ps(lo[r], plo[0][r]), _mm512_add_ps(plo[1][r], plo[2][r]));
        hi[r] = _mm512_add_ps(_mm512_add_ps(hi[r], phi[0][r]), _mm512_add_ps(phi[1][r], phi[2][r]));
      } else {
        lo[r] = _mm512_add_ps(lo[r], plo[0][r]);
        hi[r] = _mm512_add_ps(hi[r], phi[0][r]);
      }
    }
  }
  // The C tile is needed only after the k loop: its rows are fetched one per
  // k step from here on, not all 28 lines at once, which filled the line-fill
  // buffers ahead of the B and A loads (3136x64x256: 1.04x; 1024^3: 1.01x).
  int pc_row = 0;
  for (; p < kc; ++p) {
    if (pc_row < R) {
      _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc + kNR - 1), _MM_HINT_T0);
      ++pc_row;
    }
    // Deep K slices leave B's panel in L2, not L1: fetch it (and A) ahead
    // (measured: 1024^3 from 117 to 124 GFLOP/s on a Cascade Lake core).
    _mm_prefetch(reinterpret_cast<const char*>(bp + 16 * ldbp), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bp + 16 * ldbp + 16), _MM_HINT_T0);
    if (kPackedA) _mm_prefetch(reinterpret_cast<const char*>(ap + 32 * kMR), _MM_HINT_T0);
    __m512 b0 = _mm512_loadu_ps(bp);
    __m512 b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      __m512 av = _mm512_set1_ps(kPackedA ? ap[r] : ap[r * lda]);
      lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
    }
    ap += kPackedA ? kMR : 1;
    bp += ldbp;
  }
  for (; pc_row < R; ++pc_row) {
    _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc + kNR - 1), _MM_HINT_T0);
  }
  __m512 acc[R][2];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    acc[r][0] = lo[r];
    acc[r][1] = hi[r];
  }
  store_tile(acc, c, ldc, out);
}

// R rows of A in place x two whole kNR-column panels of packed B (bp and bp
// + panel_floats): a 7 x 64 tile in 28 accumulators, for a 64-column group
// of C (sgemm.cpp, wide_tiles). Each A row is then read once per group, not
// once per panel, and per k step 7 broadcasts + 4 B loads feed 28 FMAs. Every
// C element sums its k steps in the same order as micro_kernel: same bits.
template <int R>
static inline void micro_kernel_wide(int64_t kc, const float* __restrict a, int64_t lda,
                                     const float* __restrict bp, int64_t panel_floats, float* c,
                                     int64_t ldc, const TileStore& out) {
  __m512 acc[R][4];
#pragma GCC unroll 7
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) acc[r][q] = _mm512_setzero_ps();
  const float* bq = bp + panel_floats;
  int pc_row = 0;
  for (int64_t p = 0; p < kc; ++p) {
    if (pc_row < R) {
      _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc + 16), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc + 32), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + pc_row * ldc + 48), _MM_HINT_T0);
      ++pc_row;
    }
    _mm_prefetch(reinterpret_cast<const char*>(bp + 16 * kNR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bp + 16 * kNR + 16), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bq + 16 * kNR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bq + 16 * kNR + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
    const __m512 b2 = _mm512_loadu_ps(bq), b3 = _mm512_loadu_ps(bq + 16);
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + p]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(av, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(av, b3, acc[r][3]);
    }
    bp += kNR;
    bq += kNR;
  }
  store_tile(acc, c, ldc, out);
}

// One row of A (in place, one float per k step) times P whole kNR-column
// panels of packed B, panel_floats apart: a batch-1 Dense whose weights
// stream from DRAM. Reading P panels side by side keeps P streams in flight
// (one stream read ~8.5 GB/s on a Cascade Lake core, four ~10.5). Each column
// sums its k steps in two interleaved phases, added at the end, whatever P
// is, so grouping panels differently (another thread count) gives the same bits.
template <int P>
static inline void micro_kernel_row_panels(int64_t kc, const float* __restrict a,
                                           const float* __restrict bp, int64_t panel_floats,
                                           float* c, const TileStore& out) {
  __m512 acc[2][P][2];
#pragma GCC unroll 2
  for (int s = 0; s < 2; ++s)
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) acc[s][q][0] = acc[s][q][1] = _mm512_setzero_ps();
  auto step = [&](int s, int64_t p) {
    const __m512 av = _mm512_set1_ps(a[p]);
#pragma GCC unroll 4
    for (int q = 0; q < P; ++q) {
      const float* b = bp + q * panel_floats + p * kNR;
      _mm_prefetch(reinterpret_cast<const char*>(b + 16 * kNR), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(b + 16 * kNR + 16), _MM_HINT_T0);
      acc[s][q][0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b), acc[s][q][0]);
      acc[s][q][1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 16), acc[s][q][1]);
    }
  };
  int64_t p = 0;
  for (; p + 2 <= kc; p += 2) {
    step(0, p);
    step(1, p + 1);
  }
  if (p < kc) step(0, p);
#pragma GCC unroll 4
  for (int q = 0; q < P; ++q) {
    float* cq = c + q * kNR;
    const float* bias = out.bias ? out.bias + q * kNR : nullptr;
    _mm512_storeu_ps(cq, store_transform(_mm512_add_ps(acc[0][q][0], acc[1][q][0]), cq, out, bias));
    _mm512_storeu_ps(cq + 16, store_transform(_mm512_add_ps(acc[0][q][1], acc[1][q][1]), cq + 16,
                                              out, bias ? bias + 16 : nullptr));
  }
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
