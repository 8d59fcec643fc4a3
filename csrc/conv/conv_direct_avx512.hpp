// Direct NHWC convolution for AVX-512, no im2col matrix:
//  - forward: each micro-tile is R output pixels of one row x NV*16 output
//    channels held in R*NV zmm accumulators; the K loop (kh, kw, ci) loads
//    NV weight vectors and broadcasts one input value per pixel. Weights are
//    packed once per call as [co_block][kh][kw][ci][NV*16] (zero tail lanes).
//    Small channel counts (MNIST's 1 -> 8) keep the FMA units busy, where
//    im2col + GEMM ran K = 25, N = 8 through 16-wide GEMM tiles.
//  - backward input (stride 1): the forward kernel on dz with the kernel
//    flipped and its channel axes swapped.
//  - backward weights: each task owns a J x (NV*16) block of dw (J rows of
//    the (kw, ci) index of one kh) and runs over every output pixel in the
//    fixed order (n, oy, ox), so each dw entry is one chain of FMAs whatever
//    the thread count; no partial sums.
// Padding: input rows are copied into a zero-padded per-thread row buffer,
// so micro-kernels never test bounds. Rows above/below the image are skipped.
// Included only by the avx512 copy of the conv sources; the other ISAs use
// the im2col + sgemm path (the reference the tests compare all paths to).
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <cstdint>
#include <cstring>

#include "conv/conv.hpp"
#include "conv/im2col.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "gemm/epilogue_scalar.hpp"

// GCC 12 flags the _mm512_undefined_ps() inside its own intrinsics headers as
// "maybe uninitialized" once they are inlined: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace convdirect {

constexpr int64_t kLanes = 16;

// Fully unroll loops over register-block dimensions, so the accumulator
// arrays stay in zmm registers (GCC otherwise may keep them on the stack).
#define PYCNN_UNROLL _Pragma("GCC unroll 32")

// Output channels per register block: 32 (2 vectors) unless cout fits 16.
static inline int vectors_per_block(int64_t cout) { return cout > kLanes ? 2 : 1; }

// Most output pixels (forward) / dw rows (backward weights) per micro-tile:
// NV=2 -> 24 accumulators, NV=1 -> 14 (forward) or 24 (dw) accumulators.
static inline int max_fwd_pixels(int nv) { return nv == 2 ? 12 : 14; }
static inline int max_dw_rows(int nv) { return nv == 2 ? 12 : 24; }

static inline __mmask16 lane_mask(int64_t valid) {
  return valid >= kLanes ? static_cast<__mmask16>(0xFFFF)
                         : static_cast<__mmask16>((1u << valid) - 1u);
}

// Width of a zero-padded input row: every input column the output row reads.
static inline int64_t padded_width(const ConvGeometry& g) {
  return (g.out_w - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1;
}

// True when output columns never read outside [0, in_w): rows of x are used
// in place, without the padded copy.
static inline bool rows_need_no_padding(const ConvGeometry& g) {
  return g.pad_left == 0 && padded_width(g) <= g.in_w;
}

// dst[px * cin + c] = x_row[(px - pad_left) * cin + c], zero outside the row.
static inline void pad_row(const ConvGeometry& g, const float* x_row, int64_t width,
                           float* dst) {
  const int64_t cin = g.in_c;
  int64_t lo = g.pad_left < 0 ? 0 : g.pad_left;  // first in-bounds padded column
  int64_t hi = g.pad_left + g.in_w;             // one past the last
  if (lo > width) lo = width;
  if (hi > width) hi = width;
  if (hi < lo) hi = lo;
  std::memset(dst, 0, sizeof(float) * lo * cin);
  if (hi > lo)
    std::memcpy(dst + lo * cin, x_row + (lo - g.pad_left) * cin, sizeof(float) * (hi - lo) * cin);
  std::memset(dst + hi * cin, 0, sizeof(float) * (width - hi) * cin);
}

// Row pointers for output row oy of sample n: rows[kh] points at padded input
// column 0 of input row oy * stride - pad_top + kh * dilation, or is null when
// that row lies in the padding. buf holds kernel_h padded rows.
static inline void input_rows(const ConvGeometry& g, const float* x_sample, int64_t oy,
                              float* buf, const float** rows) {
  const int64_t width = padded_width(g), cin = g.in_c;
  const bool in_place = rows_need_no_padding(g);
  for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
    const int64_t iy = oy * g.stride_h - g.pad_top + kh * g.dilation_h;
    if (iy < 0 || iy >= g.in_h) {
      rows[kh] = nullptr;
      continue;
    }
    const float* src = x_sample + iy * g.in_w * cin;
    if (in_place) {
      rows[kh] = src;
    } else {
      float* dst = buf + kh * width * cin;
      pad_row(g, src, width, dst);
      rows[kh] = dst;
    }
  }
}

// ----- forward ---------------------------------------------------------------

// Packed weights: [block][kh][kw][ci][nv*16]. flip_swap packs the kernel of
// the input-gradient conv instead: w'[kh][kw][o][i] = w[KH-1-kh][KW-1-kw][i][o]
// (g is then that conv's geometry, in_c = the original cout).
static inline void pack_forward_weights(const ConvGeometry& g, const float* kernel,
                                        bool flip_swap, float* packed) {
  const int64_t cin = g.in_c, cout = g.out_c, kh_n = g.kernel_h, kw_n = g.kernel_w;
  const int nv = vectors_per_block(cout);
  const int64_t width = nv * kLanes, blocks = (cout + width - 1) / width;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t kh = 0; kh < kh_n; ++kh)
      for (int64_t kw = 0; kw < kw_n; ++kw)
        for (int64_t ci = 0; ci < cin; ++ci) {
          float* dst = packed + (((b * kh_n + kh) * kw_n + kw) * cin + ci) * width;
          for (int64_t l = 0; l < width; ++l) {
            const int64_t co = b * width + l;
            float v = 0.0f;
            if (co < cout)
              v = flip_swap
                      ? kernel[(((kh_n - 1 - kh) * kw_n + (kw_n - 1 - kw)) * cout + co) * cin + ci]
                      : kernel[((kh * kw_n + kw) * cin + ci) * cout + co];
            dst[l] = v;
          }
        }
}

struct ForwardArgs {
  const float* const* rows;  // kernel_h padded input rows (null: padding)
  const float* weights;      // this block's packed weights
  float* y;                  // output pixel ox0, channel co0
  int64_t kernel_h, kernel_w, cin, cout, stride, dilation;
  int64_t valid;             // output channels left from co0 (tail mask)
  const float* bias;         // bias + co0, or null
  bool relu;                 // apply max(0, .) in registers
};

// R output pixels from ox0 x NV*16 output channels.
template <int NV, int R>
static inline void forward_tile(const ForwardArgs& a, int64_t ox0) {
  __m512 acc[R][NV];
  PYCNN_UNROLL
  for (int r = 0; r < R; ++r)
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const int64_t cin = a.cin, pix_step = a.stride * cin;
  const int64_t k_row = a.kernel_w * cin * NV * kLanes;
  for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
    const float* row = a.rows[kh];
    if (!row) continue;
    const float* w = a.weights + kh * k_row;
    for (int64_t kw = 0; kw < a.kernel_w; ++kw) {
      const float* xp = row + (ox0 * a.stride + kw * a.dilation) * cin;
      for (int64_t ci = 0; ci < cin; ++ci, w += NV * kLanes) {
        __m512 wv[NV];
        PYCNN_UNROLL
        for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_ps(w + v * kLanes);
        PYCNN_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m512 xb = _mm512_set1_ps(xp[r * pix_step + ci]);
          PYCNN_UNROLL
          for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
        }
      }
    }
  }
  __mmask16 mask[NV];
  __m512 bias[NV];
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v) {
    mask[v] = lane_mask(a.valid - v * kLanes);
    bias[v] = a.bias ? _mm512_maskz_loadu_ps(mask[v], a.bias + v * kLanes) : _mm512_setzero_ps();
  }
  const __m512 zero = _mm512_setzero_ps();
  PYCNN_UNROLL
  for (int r = 0; r < R; ++r) {
    float* out = a.y + (ox0 + r) * a.cout;
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v) {
      if (mask[v] == 0) continue;
      __m512 o = _mm512_add_ps(acc[r][v], bias[v]);
      // Keep NaN (not-less-or-equal is true for NaN), zero the rest <= 0.
      if (a.relu) o = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(o, zero, _CMP_NLE_UQ), o);
      _mm512_mask_storeu_ps(out + v * kLanes, mask[v], o);
    }
  }
}

template <int NV>
static inline void forward_tile_any(const ForwardArgs& a, int64_t ox0, int r) {
  switch (r) {
#define PYCNN_CONV_CASE(R) \
  case R: forward_tile<NV, (R <= (NV == 2 ? 12 : 14) ? R : 1)>(a, ox0); break;
    PYCNN_CONV_CASE(1) PYCNN_CONV_CASE(2) PYCNN_CONV_CASE(3) PYCNN_CONV_CASE(4)
    PYCNN_CONV_CASE(5) PYCNN_CONV_CASE(6) PYCNN_CONV_CASE(7) PYCNN_CONV_CASE(8)
    PYCNN_CONV_CASE(9) PYCNN_CONV_CASE(10) PYCNN_CONV_CASE(11) PYCNN_CONV_CASE(12)
    PYCNN_CONV_CASE(13) PYCNN_CONV_CASE(14)
#undef PYCNN_CONV_CASE
    default: break;
  }
}

// y = act(conv(x, kernel) + bias) by the direct kernel. flip_swap: kernel is
// the original conv's (see pack_forward_weights).
static inline void forward(const ConvGeometry& g, const float* x, const float* kernel,
                           bool flip_swap, const Epilogue* ep, float* y) {
  const int64_t cout = g.out_c, out_w = g.out_w;
  if (g.batch * g.out_h * out_w == 0 || cout == 0) return;
  const int nv = vectors_per_block(cout);
  const int64_t width = nv * kLanes, blocks = (cout + width - 1) / width;
  const int64_t k_floats = g.kernel_h * g.kernel_w * g.in_c;
  float* packed = workspace_floats(static_cast<size_t>(blocks * k_floats * width),
                                   convtile::kSlotKernelT);
  pack_forward_weights(g, kernel, flip_swap, packed);

  const bool fast_act = !ep || ep->act == Act::linear || ep->act == Act::relu ||
                        ep->act == Act::softmax;
  const int max_r = max_fwd_pixels(nv);
  const int64_t tiles = (out_w + max_r - 1) / max_r;
  const int64_t rows_total = g.batch * g.out_h;
  const int64_t row_floats = g.kernel_h * padded_width(g) * g.in_c;
  const int nt = threads_for_work(2.0 * rows_total * out_w * k_floats * cout);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t task = 0; task < rows_total; ++task) {
    const int64_t n = task / g.out_h, oy = task % g.out_h;
    // Padded rows, then the kernel_h row pointers after them.
    float* buf = workspace_floats(static_cast<size_t>(row_floats + 2 * g.kernel_h + 16),
                                  convtile::kSlotCol);
    const float** rowp =
        reinterpret_cast<const float**>(buf + row_floats + (16 - row_floats % 16) % 16);
    input_rows(g, x + n * g.in_h * g.in_w * g.in_c, oy, buf, rowp);
    float* y_row = y + task * out_w * cout;
    for (int64_t b = 0; b < blocks; ++b) {
      ForwardArgs a{rowp, packed + b * k_floats * width, y_row + b * width,
                    g.kernel_h, g.kernel_w, g.in_c, cout, g.stride_w, g.dilation_w,
                    cout - b * width, nullptr, false};
      if (fast_act) {
        a.bias = ep && ep->bias ? ep->bias + b * width : nullptr;
        a.relu = ep && ep->act == Act::relu;
      }
      // Even split of the row into tiles of at most max_r pixels.
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t ox0 = out_w * t / tiles, ox1 = out_w * (t + 1) / tiles;
        if (nv == 2)
          forward_tile_any<2>(a, ox0, static_cast<int>(ox1 - ox0));
        else
          forward_tile_any<1>(a, ox0, static_cast<int>(ox1 - ox0));
      }
    }
    if (!fast_act)
      for (int64_t ox = 0; ox < out_w; ++ox)
        gemm_detail::epilogue_row(y_row + ox * cout, cout, ep);
  }
}

// ----- backward weights --------------------------------------------------------

struct WeightGradArgs {
  const float* row;  // padded input row of this kh
  const float* dz;   // dz row, channel co0
  float* dw;         // dw[kh][j0][co0]
  int64_t out_w, cout, pix_step;  // pix_step = stride * cin
  const int64_t* offsets;         // J offsets of (kw, ci) rows in a padded pixel
  int64_t valid;                  // output channels left from co0
};

// dw[j][co] += sum over ox of row[ox * pix_step + offsets[j]] * dz[ox][co].
// kContiguous (dilation 1): offsets[j] = offsets[0] + j, immediates in the
// address instead of J offset registers (which spill with J = 12).
template <int NV, int J, bool kContiguous>
static inline void weight_grad_tile(const WeightGradArgs& a) {
  __mmask16 mask[NV];
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v) mask[v] = lane_mask(a.valid - v * kLanes);
  __m512 acc[J][NV];
  int64_t off[J];
  PYCNN_UNROLL
  for (int j = 0; j < J; ++j) {
    off[j] = kContiguous ? j : a.offsets[j];
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v)
      acc[j][v] = _mm512_maskz_loadu_ps(mask[v], a.dw + j * a.cout + v * kLanes);
  }
  const float* xp = kContiguous ? a.row + a.offsets[0] : a.row;
  const float* dzp = a.dz;
  const int64_t out_w = a.out_w, pix_step = a.pix_step, cout = a.cout;
  for (int64_t ox = 0; ox < out_w; ++ox, xp += pix_step, dzp += cout) {
    __m512 d[NV];
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v) d[v] = _mm512_maskz_loadu_ps(mask[v], dzp + v * kLanes);
    PYCNN_UNROLL
    for (int j = 0; j < J; ++j) {
      const __m512 xb = _mm512_set1_ps(xp[off[j]]);
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(xb, d[v], acc[j][v]);
    }
  }
  PYCNN_UNROLL
  for (int j = 0; j < J; ++j)
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(a.dw + j * a.cout + v * kLanes, mask[v], acc[j][v]);
}

template <int NV, bool kContiguous>
static inline void weight_grad_tile_any(const WeightGradArgs& a, int j) {
  switch (j) {
#define PYCNN_CONV_CASE(J) \
  case J: weight_grad_tile<NV, (J <= (NV == 2 ? 12 : 24) ? J : 1), kContiguous>(a); break;
    PYCNN_CONV_CASE(1) PYCNN_CONV_CASE(2) PYCNN_CONV_CASE(3) PYCNN_CONV_CASE(4)
    PYCNN_CONV_CASE(5) PYCNN_CONV_CASE(6) PYCNN_CONV_CASE(7) PYCNN_CONV_CASE(8)
    PYCNN_CONV_CASE(9) PYCNN_CONV_CASE(10) PYCNN_CONV_CASE(11) PYCNN_CONV_CASE(12)
    PYCNN_CONV_CASE(13) PYCNN_CONV_CASE(14) PYCNN_CONV_CASE(15) PYCNN_CONV_CASE(16)
    PYCNN_CONV_CASE(17) PYCNN_CONV_CASE(18) PYCNN_CONV_CASE(19) PYCNN_CONV_CASE(20)
    PYCNN_CONV_CASE(21) PYCNN_CONV_CASE(22) PYCNN_CONV_CASE(23) PYCNN_CONV_CASE(24)
#undef PYCNN_CONV_CASE
    default: break;
  }
}

// dw = sum over (n, oy, ox) of padded x patches times dz; db = sum of dz.
static inline void weight_grad(const ConvGeometry& g, const float* x, const float* dz,
                               float* dw, float* db) {
  const int64_t cin = g.in_c, cout = g.out_c, kw_n = g.kernel_w, kh_n = g.kernel_h;
  const int64_t rows_j = kw_n * cin;  // dw rows per kh: the (kw, ci) index
  std::memset(dw, 0, sizeof(float) * kh_n * rows_j * cout);
  if (db) std::memset(db, 0, sizeof(float) * cout);
  const int64_t out_rows = g.batch * g.out_h;
  if (out_rows * g.out_w == 0) return;
  const int nv = vectors_per_block(cout);
  const int64_t width = nv * kLanes, co_blocks = (cout + width - 1) / width;
  const int max_j = max_dw_rows(nv);
  const int64_t j_blocks = (rows_j + max_j - 1) / max_j;
  const int64_t tasks = kh_n * j_blocks * co_blocks;
  const int64_t row_floats = kh_n * padded_width(g) * cin;
  const int64_t in_floats = g.in_h * g.in_w * cin;
  const bool contiguous = g.dilation_w == 1 || kw_n == 1;
  int nt = threads_for_work(2.0 * out_rows * g.out_w * kh_n * rows_j * cout);
  if (nt > tasks) nt = static_cast<int>(tasks);
#pragma omp parallel num_threads(nt)
  {
    // Each thread owns a fixed contiguous range of dw tasks.
    const int64_t team = nt > 1 ? omp_get_num_threads() : 1;
    const int64_t me = nt > 1 ? omp_get_thread_num() : 0;
    const int64_t first = tasks * me / team, last = tasks * (me + 1) / team;
    float* buf = workspace_floats(static_cast<size_t>(row_floats + 2 * kh_n + 2 * rows_j + 32),
                                  convtile::kSlotCol);
    int64_t* offsets = reinterpret_cast<int64_t*>(buf + row_floats + (16 - row_floats % 16) % 16);
    const float** rows = reinterpret_cast<const float**>(offsets + rows_j);
    for (int64_t j = 0; j < rows_j; ++j)
      offsets[j] = (j / cin) * g.dilation_w * cin + j % cin;
    for (int64_t r = 0; r < out_rows; ++r) {
      const int64_t n = r / g.out_h, oy = r % g.out_h;
      input_rows(g, x + n * in_floats, oy, buf, rows);
      const float* dz_row = dz + r * g.out_w * cout;
      for (int64_t task = first; task < last; ++task) {
        const int64_t kh = task / (j_blocks * co_blocks);
        const int64_t jb = (task / co_blocks) % j_blocks, cb = task % co_blocks;
        if (!rows[kh]) continue;
        const int64_t j0 = rows_j * jb / j_blocks, j1 = rows_j * (jb + 1) / j_blocks;
        WeightGradArgs a{rows[kh], dz_row + cb * width,
                         dw + (kh * rows_j + j0) * cout + cb * width,
                         g.out_w, cout, g.stride_w * cin, offsets + j0, cout - cb * width};
        const int j_count = static_cast<int>(j1 - j0);
        if (contiguous) {
          if (nv == 2)
            weight_grad_tile_any<2, true>(a, j_count);
          else
            weight_grad_tile_any<1, true>(a, j_count);
        } else {
          if (nv == 2)
            weight_grad_tile_any<2, false>(a, j_count);
          else
            weight_grad_tile_any<1, false>(a, j_count);
        }
      }
    }
  }
  if (db) {  // fixed pixel order, vectorised over channels
    const int64_t pixels = out_rows * g.out_w;
    for (int64_t p = 0; p < pixels; ++p) {
      const float* d = dz + p * cout;
#pragma omp simd
      for (int64_t o = 0; o < cout; ++o) db[o] += d[o];
    }
  }
}

}  // namespace convdirect
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
