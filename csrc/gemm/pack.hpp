// Packing op(A) and op(B) blocks into the layouts the micro-kernel streams:
//   A block (mc x kc) -> row panels of kMR rows, each kc x kMR (k outer);
//   B block (kc x nc) -> column panels of kNR columns, each kc x kNR.
// Transposes are absorbed here, and ragged edges are zero-padded, so the
// micro-kernel only ever sees whole kMR x kNR panels.
#pragma once
#include <cstdint>
#include <cstring>

#include "gemm/microkernel.hpp"
#if defined(__AVX512F__)
#include "gemm/transpose_avx512.hpp"
#elif defined(__AVX2__)
#include <immintrin.h>
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

#if defined(__AVX2__) && !defined(__AVX512F__)
// In: v[i] = row i (8 floats). Out: v[j] = column j.
static inline void transpose8x8_avx2(__m256 v[8]) {
  __m256 t[8], s[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved per 128-bit lane
    t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {  // s[i+e]: rows i..i+3 of element e (and e+4)
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int e = 0; e < 4; ++e) {  // join the low / high lanes of rows 0..3 and 4..7
    v[e] = _mm256_permute2f128_ps(s[e], s[e + 4], 0x20);
    v[e + 4] = _mm256_permute2f128_ps(s[e], s[e + 4], 0x31);
  }
}
#endif

// One kMR-row panel of op(A): rows [i0, i0+rows), k range [p0, p0+kc).
static inline void pack_a_panel(bool trans_a, const float* a, int64_t lda, int64_t i0,
                                int64_t rows, int64_t p0, int64_t kc, float* dst) {
  if (trans_a) {
    // op(A)(i, p) = a[p*lda + i]: each k step reads kMR contiguous floats.
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = a + (p0 + p) * lda + i0;
      float* d = dst + p * kMR;
      if (rows == kMR) {
        for (int r = 0; r < kMR; ++r) d[r] = src[r];
      } else {
        for (int64_t r = 0; r < rows; ++r) d[r] = src[r];
        for (int64_t r = rows; r < kMR; ++r) d[r] = 0.0f;
      }
    }
    return;
  }
#if defined(__AVX512F__)
  // op(A)(i, p) = a[i*lda + p]: transpose 16-wide strips of the kMR rows.
  static_assert(kMR <= 16, "one strip covers all rows of a panel");
  const __mmask16 panel_rows = static_cast<__mmask16>((1u << kMR) - 1u);
  for (int64_t p = 0; p < kc; p += 16)
    transpose_strip(a + i0 * lda + p0 + p, lda, static_cast<int>(rows),
                    static_cast<int>(kc - p < 16 ? kc - p : 16), dst + p * kMR, kMR, panel_rows);
  return;
#elif defined(__AVX2__)
  // op(A)(i, p) = a[i*lda + p]: 8 x 8 transposes of the kMR rows (zeros below),
  // storing the first kMR floats of each column.
  static_assert(kMR <= 8, "one transpose covers all rows of a panel");
  const __m256i keep =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(kMR), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 v[8];
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r)
      v[r] = r < rows ? _mm256_loadu_ps(a + (i0 + r) * lda + p0 + p) : _mm256_setzero_ps();
    transpose8x8_avx2(v);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) _mm256_maskstore_ps(dst + (p + j) * kMR, keep, v[j]);
  }
  for (int64_t r = 0; r < kMR; ++r)  // the last kc % 8 steps
    for (int64_t q = p; q < kc; ++q)
      dst[q * kMR + r] = r < rows ? a[(i0 + r) * lda + p0 + q] : 0.0f;
  return;
#endif
  // op(A)(i, p) = a[i*lda + p]: read each row contiguously, write strided.
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = a + (i0 + r) * lda + p0;
    for (int64_t p = 0; p < kc; ++p) dst[p * kMR + r] = src[p];
  }
  for (int64_t r = rows; r < kMR; ++r)
    for (int64_t p = 0; p < kc; ++p) dst[p * kMR + r] = 0.0f;
}

// One kNR-column panel of op(B) for a transposed B (op(B)(p, j) = b[j*ldb + p]):
// columns [j0, j0+cols), k range [p0, p0+kc). Row-major B uses
// pack_b_block_rows below.
static inline void pack_bt_panel(const float* b, int64_t ldb, int64_t j0, int64_t cols,
                                 int64_t p0, int64_t kc, float* dst) {
#if defined(__AVX512F__)
  // op(B)(p, j) = b[j*ldb + p]: transpose 16 x 16 blocks (16 columns of op(B)).
  // Each strip reads one line from each of 16 rows ldb apart, which the
  // hardware prefetchers do not follow: the same lines of the next panel's
  // rows are fetched one panel ahead (a 16 x 87616 dy W^T spent two thirds of
  // its time waiting on these loads). Prefetches never fault past the end.
  for (int64_t jj = 0; jj < kNR; jj += 16) {
    const int64_t left = cols - jj;
    const int group = static_cast<int>(left <= 0 ? 0 : (left < 16 ? left : 16));
    for (int64_t p = 0; p < kc; p += 16) {
      // Integer addresses: the next panel may lie past the end of b.
      const uintptr_t next = reinterpret_cast<uintptr_t>(b) +
                             static_cast<uintptr_t>((j0 + kNR + jj) * ldb + p0 + p) * 4;
      for (int r = 0; r < 16; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(next + static_cast<uintptr_t>(r * ldb) * 4),
                     _MM_HINT_T0);
      transpose_strip(b + (j0 + jj) * ldb + p0 + p, ldb, group,
                      static_cast<int>(kc - p < 16 ? kc - p : 16), dst + p * kNR + jj, kNR,
                      0xFFFF);
    }
  }
  return;
#endif
  // op(B)(p, j) = b[j*ldb + p]: read each column of op(B) contiguously.
  for (int64_t j = 0; j < cols; ++j) {
    const float* src = b + (j0 + j) * ldb + p0;
    for (int64_t p = 0; p < kc; ++p) dst[p * kNR + j] = src[p];
  }
  for (int64_t j = cols; j < kNR; ++j)
    for (int64_t p = 0; p < kc; ++p) dst[p * kNR + j] = 0.0f;
}

// The panels of a row-major B block (columns [j0, j0+nc), k range [p0, p0+kc))
// filled one k row at a time, so memory is read in long contiguous runs the
// prefetchers follow (panel by panel would jump ldb floats per 32 read).
// Packing measured faster than reading B in place even for small m: strided
// kNR-wide reads of B defeat the prefetchers.
static inline void pack_b_block_rows(const float* b, int64_t ldb, int64_t j0, int64_t nc,
                                     int64_t p0, int64_t kc, float* dst) {
  const int64_t full_panels = nc / kNR, tail = nc % kNR;
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = b + (p0 + p) * ldb + j0;
    float* d = dst + p * kNR;
    for (int64_t jp = 0; jp < full_panels; ++jp)
      for (int j = 0; j < kNR; ++j) d[jp * kc * kNR + j] = src[jp * kNR + j];
    if (tail) {
      float* dt = d + full_panels * kc * kNR;
      const float* st = src + full_panels * kNR;
      for (int64_t j = 0; j < tail; ++j) dt[j] = st[j];
      for (int64_t j = tail; j < kNR; ++j) dt[j] = 0.0f;
    }
  }
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
