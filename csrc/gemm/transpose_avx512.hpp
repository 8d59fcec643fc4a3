// AVX-512 16 x 16 float transpose used by packing: turns row-major strips of
// A (or of a transposed B) into the k-major panels the micro-kernel reads.
// Replaces one scalar store per element with ~5 vector ops per 16 elements.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace gemm_detail {

// In: v[i] = row i (16 floats). Out: v[j] = column j.
static inline void transpose16x16(__m512 v[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {  // pairs of rows interleaved per 128-bit lane
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {  // v[i+e]: rows i..i+3 of element e in each lane
    const __m512d t0 = _mm512_castps_pd(t[i]), t1 = _mm512_castps_pd(t[i + 1]);
    const __m512d t2 = _mm512_castps_pd(t[i + 2]), t3 = _mm512_castps_pd(t[i + 3]);
    v[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    v[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    v[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    v[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
#pragma GCC unroll 4
  for (int e = 0; e < 4; ++e) {  // gather lane L of the four row groups: column 4L+e
    const __m512 lo01 = _mm512_shuffle_f32x4(v[e], v[4 + e], 0x44);
    const __m512 hi01 = _mm512_shuffle_f32x4(v[e], v[4 + e], 0xEE);
    const __m512 lo23 = _mm512_shuffle_f32x4(v[8 + e], v[12 + e], 0x44);
    const __m512 hi23 = _mm512_shuffle_f32x4(v[8 + e], v[12 + e], 0xEE);
    t[e] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);
    t[4 + e] = _mm512_shuffle_f32x4(lo01, lo23, 0xDD);
    t[8 + e] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);
    t[12 + e] = _mm512_shuffle_f32x4(hi01, hi23, 0xDD);
  }
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) v[j] = t[j];
}

// Reads `rows` (<= 16) rows of `count` (<= 16) floats, row stride ld, and
// writes the transpose: for q < count, dst[q * dst_stride + r] for the rows
// selected by store_mask (rows >= `rows` are written as zeros).
static inline void transpose_strip(const float* src, int64_t ld, int rows, int count, float* dst,
                                   int64_t dst_stride, __mmask16 store_mask) {
  const __mmask16 load_mask = static_cast<__mmask16>((1u << count) - 1u);
  __m512 v[16];
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r)
    v[r] = r < rows ? _mm512_maskz_loadu_ps(load_mask, src + r * ld) : _mm512_setzero_ps();
  transpose16x16(v);
#pragma GCC unroll 16
  for (int q = 0; q < 16; ++q)
    if (q < count) _mm512_mask_storeu_ps(dst + q * dst_stride, store_mask, v[q]);
}

}  // namespace gemm_detail
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
