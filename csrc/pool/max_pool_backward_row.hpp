// One row of a tiled max-pooling backward (windows stride == pool, the usual
// 2x2/2): dx of input row `row` (n * in_h + iy), each pixel a select of its
// window's dy where the argmax is that pixel, gated by relu_y > 0 when given.
// Shared by max_pool2d_backward and the conv weight gradient that builds its
// pre-activation dz band by band from the pool's dy (conv2d_backward.cpp).
// argmax is only compared with in-window positions, never used as an address,
// so any index is memory-safe here. `static inline`: compiled once per ISA.
#pragma once
#include <cstdint>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "pool/pool.hpp"
#include "pool/pool_window.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

static inline void max_pool_backward_tiled_row(const PoolGeometry& g, const float* dy,
                                               const int32_t* argmax, const float* relu_y,
                                               int64_t row, float* __restrict out) {
  const int64_t c_count = g.channels;
  const int64_t out_floats = g.out_h * g.out_w * c_count;
  const int64_t n = row / g.in_h, iy = row % g.in_h;
  const int64_t oy = (iy + g.pad_top) / g.stride_h;
  int64_t ix = 0;
  if (oy < g.out_h) {
    const int64_t o_row = n * out_floats + oy * g.out_w * c_count;
    for (int64_t ox = 0; ox < g.out_w; ++ox) {
      const poolwin::Range rx = poolwin::window(ox, g.stride_w, g.pad_left, g.pool_w, g.in_w);
      const float* __restrict d = dy + o_row + ox * c_count;
      const int32_t* __restrict a = argmax + o_row + ox * c_count;
      const float* __restrict ys = relu_y ? relu_y + o_row + ox * c_count : nullptr;
#if defined(__AVX512F__)
      if (c_count == 8 && rx.end - ix == 2 && rx.begin == ix) {
        // 8 channels, a whole 2-wide window: its two pixels are one zmm of
        // dx (MNIST's pool; per pixel, the loop below costs ~3x as much).
        const int32_t pos = static_cast<int32_t>(iy * g.in_w + ix);
        const __m512i pos_pair = _mm512_add_epi32(
            _mm512_set1_epi32(pos),
            _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        __mmask16 hit = _mm512_cmpeq_epi32_mask(
            _mm512_broadcast_i32x8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
            pos_pair);
        if (ys)
          hit = _mm512_mask_cmp_ps_mask(hit, _mm512_broadcast_f32x8(_mm256_loadu_ps(ys)),
                                        _mm512_setzero_ps(), _CMP_GT_OQ);
        const __m512 v = _mm512_add_ps(
            _mm512_setzero_ps(),
            _mm512_maskz_mov_ps(hit, _mm512_broadcast_f32x8(_mm256_loadu_ps(d))));
        _mm512_storeu_ps(out + ix * c_count, v);
        ix += 2;
        continue;
      }
#endif
      for (; ix < rx.end; ++ix) {
        float* __restrict o = out + ix * c_count;
        const int32_t pos = static_cast<int32_t>(iy * g.in_w + ix);
        // 0.0f + (...) as the gather's sum from zero (turns -0 into +0 alike).
#if defined(__AVX512F__)
        // 16 channels at a time under a lane mask (MNIST's 8 channels: one
        // masked vector, where the generic loop ran scalar).
        const __m512i pos_v = _mm512_set1_epi32(pos);
        const __m512 zero = _mm512_setzero_ps();
        for (int64_t c = 0; c < c_count; c += 16) {
          const __mmask16 lanes = c_count - c >= 16
                                      ? static_cast<__mmask16>(0xFFFF)
                                      : static_cast<__mmask16>((1u << (c_count - c)) - 1u);
          __mmask16 hit = _mm512_mask_cmpeq_epi32_mask(
              lanes, _mm512_maskz_loadu_epi32(lanes, a + c), pos_v);
          if (ys)
            hit = _mm512_mask_cmp_ps_mask(hit, _mm512_maskz_loadu_ps(lanes, ys + c), zero,
                                          _CMP_GT_OQ);
          const __m512 v = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(hit, d + c));
          _mm512_mask_storeu_ps(o + c, lanes, v);
        }
        continue;
#endif
        if (ys) {
#pragma omp simd
          for (int64_t c = 0; c < c_count; ++c)
            o[c] = 0.0f + (a[c] == pos ? d[c] * (ys[c] > 0.0f ? 1.0f : 0.0f) : 0.0f);
        } else {
#pragma omp simd
          for (int64_t c = 0; c < c_count; ++c) o[c] = 0.0f + (a[c] == pos ? d[c] : 0.0f);
        }
      }
    }
  }
  // Pixels past the last window ('valid' remainder) or rows below it.
  for (int64_t c = ix * c_count; c < g.in_w * c_count; ++c) out[c] = 0.0f;
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
