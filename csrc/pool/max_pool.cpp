// Max pooling forward (value + first argmax per window) and backward.

// GCC 12 flags the _mm512_undefined_ps() inside its own intrinsics headers as
// "(maybe) uninitialized" once they are inlined here: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <algorithm>
#include <cstring>
#include <type_traits>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/threading.hpp"
#include "pool/pool.hpp"
#include "pool/max_pool_backward_row.hpp"
#include "pool/pool_window.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

#if defined(__AVX512F__)
// One window's running max over 16 lanes, its candidates taken in window
// order: a later value wins only when strictly larger, or when it is the first
// NaN (max pooling propagates NaN as Keras/JAX), so ties keep the first. The
// index of the winner is tracked only with kArgmax.
template <bool kArgmax>
struct WindowMax {
  __m512 best;
  __m512i where;
  __mmask16 nan;  // lanes that met a NaN: they keep it (value path: set at the end)

  void start(__m512 v, __m512i pos) {
    best = v;
    where = pos;
    nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  void take(__m512 v, __m512i pos) {
    if (kArgmax) {
      // v > best, or v is the first NaN: not-less-or-equal, off NaN lanes.
      const __mmask16 larger = _mm512_mask_cmp_ps_mask(~nan, v, best, _CMP_NLE_UQ);
      nan |= larger & _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      best = _mm512_mask_mov_ps(best, larger, v);
      where = _mm512_mask_mov_epi32(where, larger, pos);
    } else {
      nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      best = _mm512_max_ps(v, best);
    }
  }
  __m512 value() const {
    return kArgmax ? best : _mm512_mask_mov_ps(best, nan, _mm512_set1_ps(__builtin_nanf("")));
  }
};

// 8 channels, 2-wide windows at stride 2 from column 0 (MNIST's 2x2/2 pool):
// two outputs per zmm. Per window row, the 16 floats of pixels (2ox, 2ox + 1)
// and of (2ox + 2, 2ox + 3) are regrouped as the candidates ix = 0 (lanes of
// outputs ox, ox + 1) and ix = 1, and taken in window order as the general
// loop does (the general loop ran ~50 cycles per output). Returns how many
// outputs of the row (from ox = 0) it wrote: pairs of windows inside the row.
template <bool kArgmax>
static inline int64_t max_pool_c8_pairs(const PoolGeometry& g, const float* xs,
                                        poolwin::Range ry, float* y_row, int32_t* a_row) {
  if (g.channels != 8 || g.pool_w != 2 || g.stride_w != 2 || g.pad_left != 0 || g.in_w < 2 ||
      ry.end <= ry.begin)
    return 0;
  const int64_t inside = std::min<int64_t>(g.out_w, (g.in_w - 2) / 2 + 1);
  const int64_t pairs = inside / 2;
  const __m512i second = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
  for (int64_t pr = 0; pr < pairs; ++pr) {
    const int64_t px = 4 * pr;  // first input column of the pair's windows
    WindowMax<kArgmax> w;
    for (int64_t iy = ry.begin; iy < ry.end; ++iy) {
      const float* p = xs + (iy * g.in_w + px) * 8;
      const __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
      const __m512 cand[2] = {_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE)};
      const int32_t pos0 = static_cast<int32_t>(iy * g.in_w + px);
      for (int ix = 0; ix < 2; ++ix) {
        const __m512i pos = _mm512_add_epi32(_mm512_set1_epi32(pos0 + ix), second);
        if (iy == ry.begin && ix == 0)
          w.start(cand[ix], pos);
        else
          w.take(cand[ix], pos);
      }
    }
    _mm512_storeu_ps(y_row + 2 * pr * 8, w.value());
    if (kArgmax) _mm512_storeu_si512(a_row + 2 * pr * 8, w.where);
  }
  return 2 * pairs;
}

// Channels a multiple of 16 and windows PW (2 or 3) wide: the windows that
// lie inside the row along x, [ox_begin, ox_end), without per-window bounds,
// the window's columns unrolled and G zmm of channels reduced side by side
// (G independent max chains: one chain of 8 dependent maxes per 3x3 window
// left the general loop latency-bound, ResNet's 3x3/2 pool at ~2x the time).
// Candidates are taken in the general loop's window order: same results.
template <bool kArgmax, int PW, int G>
static inline void max_pool_c16_inside(const PoolGeometry& g, const float* xs, poolwin::Range ry,
                                       int64_t ox_begin, int64_t ox_end, float* y_row,
                                       int32_t* a_row) {
  const int64_t cc = g.channels;
  for (int64_t ox = ox_begin; ox < ox_end; ++ox) {
    const int64_t ix0 = ox * g.stride_w - g.pad_left;
    for (int64_t c = 0; c < cc; c += 16 * G) {
      WindowMax<kArgmax> w[G];
      for (int64_t iy = ry.begin; iy < ry.end; ++iy) {
        const int32_t pos0 = static_cast<int32_t>(iy * g.in_w + ix0);
        const float* p = xs + static_cast<int64_t>(pos0) * cc + c;
#pragma GCC unroll 3
        for (int ix = 0; ix < PW; ++ix) {
          const __m512i pos = _mm512_set1_epi32(pos0 + ix);
#pragma GCC unroll 4
          for (int q = 0; q < G; ++q) {
            const __m512 v = _mm512_loadu_ps(p + ix * cc + 16 * q);
            if (iy == ry.begin && ix == 0)
              w[q].start(v, pos);
            else
              w[q].take(v, pos);
          }
        }
      }
#pragma GCC unroll 4
      for (int q = 0; q < G; ++q) {
        _mm512_storeu_ps(y_row + ox * cc + c + 16 * q, w[q].value());
        if (kArgmax) _mm512_storeu_si512(a_row + ox * cc + c + 16 * q, w[q].where);
      }
    }
  }
}

// Runs max_pool_c16_inside over the row's windows that lie inside it along x,
// when it applies (16k channels, windows 2 or 3 wide), and returns their range
// of ox; an empty range otherwise.
template <bool kArgmax>
static inline poolwin::Range max_pool_row_inside(const PoolGeometry& g, const float* xs,
                                                 poolwin::Range ry, float* y_row, int32_t* a_row) {
  const int64_t cc = g.channels, pw = g.pool_w, sw = g.stride_w, pl = g.pad_left;
  if (cc % 16 != 0 || (pw != 2 && pw != 3) || ry.end <= ry.begin || g.in_w < pw) return {0, 0};
  // ox * sw - pl >= 0 and ox * sw - pl + pw <= in_w
  const int64_t lo = pl <= 0 ? 0 : (pl + sw - 1) / sw;
  const int64_t hi = std::min<int64_t>(g.out_w, (g.in_w - pw + pl) / sw + 1);
  if (hi <= lo) return {0, 0};
  const int gq = cc % 64 == 0 ? 4 : cc % 32 == 0 ? 2 : 1;
  auto run = [&](auto pw_c, auto g_c) {
    max_pool_c16_inside<kArgmax, decltype(pw_c)::value, decltype(g_c)::value>(g, xs, ry, lo, hi,
                                                                              y_row, a_row);
  };
  using I2 = std::integral_constant<int, 2>;
  using I3 = std::integral_constant<int, 3>;
  using G1 = std::integral_constant<int, 1>;
  using G2 = std::integral_constant<int, 2>;
  using G4 = std::integral_constant<int, 4>;
  if (pw == 2)
    gq == 4 ? run(I2{}, G4{}) : gq == 2 ? run(I2{}, G2{}) : run(I2{}, G1{});
  else
    gq == 4 ? run(I3{}, G4{}) : gq == 2 ? run(I3{}, G2{}) : run(I3{}, G1{});
  return {lo, hi};
}
#endif

// Window max, and with kArgmax the spatial index of the first max (the
// inference path tracks no index). AVX-512 reduces each window in registers
// (WindowMax), 16 channels at a time (the generic loop below ran ~3x slower);
// the generic loop keeps the same tie and NaN rule.
template <bool kArgmax>
static void max_pool2d_rows(const PoolGeometry& g, const float* x, float* y, int32_t* argmax) {
  const int64_t c_count = g.channels;
  const int64_t rows = g.batch * g.out_h;
  const int nt = threads_for_work(1.0 * rows * g.out_w * c_count * g.pool_h * g.pool_w);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / g.out_h, oy = row % g.out_h;
    const float* xs = x + n * g.in_h * g.in_w * c_count;
    const poolwin::Range ry = poolwin::window(oy, g.stride_h, g.pad_top, g.pool_h, g.in_h);
    int64_t ox_done = 0;
#if defined(__AVX512F__)
    float* y_row = y + row * g.out_w * c_count;
    int32_t* a_row = kArgmax ? argmax + row * g.out_w * c_count : nullptr;
    poolwin::Range inside{0, 0};
    if (c_count == 8)
      ox_done = max_pool_c8_pairs<kArgmax>(g, xs, ry, y_row, a_row);
    else
      inside = max_pool_row_inside<kArgmax>(g, xs, ry, y_row, a_row);
#else
    const poolwin::Range inside{0, 0};
#endif
    for (int64_t ox = ox_done; ox < g.out_w; ++ox) {
      if (ox == inside.begin && inside.end > inside.begin) {  // done above
        ox = inside.end - 1;
        continue;
      }
      const poolwin::Range rx = poolwin::window(ox, g.stride_w, g.pad_left, g.pool_w, g.in_w);
#if defined(__AVX512F__)
      // 16 channels at a time, the window reduced in registers, one store.
      float* best_row = y + (row * g.out_w + ox) * c_count;
      int32_t* where_row = kArgmax ? argmax + (row * g.out_w + ox) * c_count : nullptr;
      for (int64_t c = 0; c < c_count; c += 16) {
        const __mmask16 lanes = c_count - c >= 16
                                    ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>((1u << (c_count - c)) - 1u);
        const int32_t first = static_cast<int32_t>(ry.begin * g.in_w + rx.begin);
        WindowMax<kArgmax> w;
        w.start(_mm512_maskz_loadu_ps(lanes, xs + first * c_count + c), _mm512_set1_epi32(first));
        for (int64_t iy = ry.begin; iy < ry.end; ++iy)
          for (int64_t ix = iy == ry.begin ? rx.begin + 1 : rx.begin; ix < rx.end; ++ix) {
            const int32_t pos = static_cast<int32_t>(iy * g.in_w + ix);
            w.take(_mm512_maskz_loadu_ps(lanes, xs + pos * c_count + c), _mm512_set1_epi32(pos));
          }
        _mm512_mask_storeu_ps(best_row + c, lanes, w.value());
        if (kArgmax) _mm512_mask_storeu_epi32(where_row + c, lanes, w.where);
      }
      continue;
#endif
      float* __restrict best = y + (row * g.out_w + ox) * c_count;
      int32_t* __restrict where = kArgmax ? argmax + (row * g.out_w + ox) * c_count : nullptr;
      const int32_t first = static_cast<int32_t>(ry.begin * g.in_w + rx.begin);
      std::memcpy(best, xs + first * c_count, sizeof(float) * c_count);
      if (kArgmax) {
#pragma omp simd
        for (int64_t c = 0; c < c_count; ++c) where[c] = first;
      }
      for (int64_t iy = ry.begin; iy < ry.end; ++iy) {
        for (int64_t ix = rx.begin; ix < rx.end; ++ix) {
          const int32_t pos = static_cast<int32_t>(iy * g.in_w + ix);
          const float* __restrict v = xs + pos * c_count;
#pragma omp simd
          for (int64_t c = 0; c < c_count; ++c) {
            const bool larger = v[c] > best[c] || (v[c] != v[c] && best[c] == best[c]);
            best[c] = larger ? v[c] : best[c];
            if (kArgmax) where[c] = larger ? pos : where[c];
          }
        }
      }
    }
  }
}

void max_pool2d_forward(const PoolGeometry& g, const float* x, float* y, int32_t* argmax) {
  if (argmax)
    max_pool2d_rows<true>(g, x, y, argmax);
  else
    max_pool2d_rows<false>(g, x, y, nullptr);
}

// dy * (relu_y > 0): the gradient a ReLU in front of the pool lets through
// (relu_y is the pool's output; see max_pool2d_backward in pool.hpp).
static inline float relu_gate(const float* relu_y, int64_t i) {
  return relu_y[i] > 0.0f ? 1.0f : 0.0f;
}

// dx[argmax] += dy per sample in window order; samples in parallel. Used
// when the caller gives no window geometry (pool_h == 0).
static void max_pool2d_backward_scatter(const PoolGeometry& g, const float* dy,
                                        const int32_t* argmax, const float* relu_y,
                                        float* dx) {
  const int64_t c_count = g.channels;
  const int64_t in_floats = g.in_h * g.in_w * c_count;
  const int64_t out_floats = g.out_h * g.out_w * c_count;
  const int nt = threads_for_work(4.0 * g.batch * (in_floats + out_floats));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n) {
    float* dxs = dx + n * in_floats;
    std::memset(dxs, 0, sizeof(float) * in_floats);
    const float* dys = dy + n * out_floats;
    const int32_t* am = argmax + n * out_floats;
    const float* ys = relu_y ? relu_y + n * out_floats : nullptr;
    for (int64_t p = 0; p < g.out_h * g.out_w; ++p)
      for (int64_t c = 0; c < c_count; ++c) {
        const int64_t o = p * c_count + c;
        dxs[am[o] * c_count + c] += ys ? dys[o] * relu_gate(ys, o) : dys[o];
      }
  }
}

// Adds, to out[0..C), the dy of window `o` at the channels whose argmax is
// `pos` (gated by relu_y when given).
static inline void add_window(float* __restrict out, const float* __restrict d,
                              const int32_t* __restrict a, const float* __restrict ys,
                              int32_t pos, int64_t c_count) {
  if (ys) {
#pragma omp simd
    for (int64_t c = 0; c < c_count; ++c)
      out[c] += a[c] == pos ? d[c] * (ys[c] > 0.0f ? 1.0f : 0.0f) : 0.0f;
  } else {
#pragma omp simd
    for (int64_t c = 0; c < c_count; ++c) out[c] += a[c] == pos ? d[c] : 0.0f;
  }
}

// Windows that tile the image (stride == pool, the usual 2x2/2): every dx
// pixel lies in at most one window, so dx is one select per element, written
// window by window along each row (no per-pixel window search, no sums).
static void max_pool2d_backward_tiled(const PoolGeometry& g, const float* dy,
                                      const int32_t* argmax, const float* relu_y, float* dx) {
  const int64_t c_count = g.channels;
  const int64_t rows = g.batch * g.in_h;
  const int64_t out_floats = g.out_h * g.out_w * c_count;
  const int nt = threads_for_work(4.0 * g.batch * (g.in_h * g.in_w * c_count + out_floats));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; ++row)
    max_pool_backward_tiled_row(g, dy, argmax, relu_y, row, dx + row * g.in_w * c_count);
}

void max_pool2d_backward(const PoolGeometry& g, const float* dy, const int32_t* argmax,
                         const float* relu_y, float* dx) {
  const int64_t c_count = g.channels;
  if (g.pool_h < 1 || g.pool_w < 1) {  // window geometry unknown: scatter
    max_pool2d_backward_scatter(g, dy, argmax, relu_y, dx);
    return;
  }
  if (g.stride_h == g.pool_h && g.stride_w == g.pool_w) {
    max_pool2d_backward_tiled(g, dy, argmax, relu_y, dx);
    return;
  }
  const int64_t rows = g.batch * g.in_h;
  const int64_t out_floats = g.out_h * g.out_w * c_count;
  const int nt = threads_for_work(4.0 * g.batch * (g.in_h * g.in_w * c_count + out_floats));
  // Gather instead of scatter: each input pixel sums, over the windows
  // holding it in increasing window order, the dy of those whose argmax it
  // is. Rows of dx are independent (parallel, no races) and every sum runs
  // in the order of the serial scatter, so results are bit-identical to it.
  // Every dx element is written exactly once (no separate zero fill).
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / g.in_h, iy = row % g.in_h;
    const float* dys = dy + n * out_floats;
    const int32_t* ams = argmax + n * out_floats;
    const float* yss = relu_y ? relu_y + n * out_floats : nullptr;
    const poolwin::Range oys =
        poolwin::windows_holding(iy, g.stride_h, g.pad_top, g.pool_h, g.out_h);
    // Windows [ox_lo, ox_hi) along x holding ix, advanced incrementally
    // (both only grow with ix; no division per pixel).
    int64_t ox_lo = 0, ox_hi = 0;
    for (int64_t ix = 0; ix < g.in_w; ++ix) {
      while (ox_lo < g.out_w && ox_lo * g.stride_w - g.pad_left + g.pool_w <= ix) ++ox_lo;
      while (ox_hi < g.out_w && ox_hi * g.stride_w - g.pad_left <= ix) ++ox_hi;
      float* __restrict out = dx + (row * g.in_w + ix) * c_count;
      const int32_t pos = static_cast<int32_t>(iy * g.in_w + ix);
#pragma omp simd
      for (int64_t c = 0; c < c_count; ++c) out[c] = 0.0f;
      for (int64_t oy = oys.begin; oy < oys.end; ++oy)
        for (int64_t ox = ox_lo; ox < ox_hi; ++ox) {
          const int64_t o = (oy * g.out_w + ox) * c_count;
          add_window(out, dys + o, ams + o, yss ? yss + o : nullptr, pos, c_count);
        }
    }
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
