// Direct NHWC convolution for AVX-512, no im2col matrix:
//  - forward: each micro-tile is R output pixels of one row x NV*16 output
//    channels held in R*NV zmm accumulators; the K loop (kh, kw, ci) loads
//    NV weight vectors and broadcasts one input value per pixel. Weights are
//    packed as [co_block][cin slice][kh][kw][ci][NV*16] (zero tail lanes),
//    per call or ahead (conv2d_pack_weights). Tasks are (chunk of output rows
//    x group of co blocks); inside, a co block's weights stay in L2 and one
//    K slice in L1 while every tile of the chunk reuses them (see forward).
//    Small channel counts (MNIST's 1 -> 8) keep the FMA units busy, where
//    im2col + GEMM ran K = 25, N = 8 through 16-wide GEMM tiles.
//  - backward input (stride 1): the forward kernel on dz with the kernel
//    flipped and its channel axes swapped.
//  - backward weights: each task owns a J x (NV*16) block of dw (J rows of
//    the (kw, ci) index of one kh) and runs over every output pixel in the
//    fixed order (n, oy, ox), so each dw entry is one chain of FMAs whatever
//    the thread count; no partial sums. Narrow rows go in bands of ~100
//    pixels, the accumulators staying in registers across a band's rows.
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
#include "pool/max_pool_backward_row.hpp"
#include "pool/pool.hpp"

// GCC 12 flags the _mm512_undefined_ps() inside its own intrinsics headers as
// "(maybe) uninitialized" once they are inlined: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace convdirect {

constexpr int64_t kLanes = 16;

// Fully unroll loops over register-block dimensions, so the accumulator
// arrays stay in zmm registers (GCC otherwise may keep them on the stack).
#define PYCNN_UNROLL _Pragma("GCC unroll 32")
// For helpers called per K step inside a tile: GCC left PixelInputs::at out of
// line in the biggest instantiations (a call per pixel per K step, its
// accumulators spilled: a 32 -> 3 channel 3x3 conv ran at 2.5 GFLOP/s).
#define PYCNN_ALWAYS_INLINE inline __attribute__((always_inline))

// Output channels per register block: 32 (2 vectors) unless cout fits 16.
static inline int vectors_per_block(int64_t cout) { return cout > kLanes ? 2 : 1; }
// The forward's (and its packed layout's): 64 (4 vectors, tiles of
// kFwdPixels4 pixels) for at most 4 input channels and cout a multiple of 64.
// With a K loop that short (27 steps for a 3x3 RGB conv), a tile's fixed
// costs (zeroing, bias + ReLU, stores) and the input's broadcasts are then
// shared by 64 channels, not 32: 1.14-1.49x at 1 thread (3->64 at 150x150
// 1.20x, 1->64 at 28x28 1.49x, 3->256 at 224x224 1.25x). For 64 inputs
// 64-channel blocks measured 0.95-1.03x, so they stay at 32.
static inline int forward_vectors(int64_t cin, int64_t cout) {
  return cin <= 4 && cout % 64 == 0 ? 4 : vectors_per_block(cout);
}
// 24 accumulators + 4 weight vectors + 1 broadcast; 7 pixels (33 registers) ran 2-3% slower.
constexpr int kFwdPixels4 = 6;

// Most output pixels (forward) / dw rows (backward weights) per micro-tile:
// forward 14 (NV=2: 28 accumulators + 2 weight vectors + 1 broadcast, all 32
// zmm; 14 fit 28x28 rows in 2 tiles, 6-9% faster there than 3 tiles of <= 12),
// dw NV=2 -> 14 rows, 28 accumulators like the forward (1.0-1.04x over 12
// rows, 56x56 and 112x112 64->64 4%), NV=1 -> 24.
static inline int max_fwd_pixels(int nv) { return nv == 4 ? kFwdPixels4 : 14; }
static inline int max_dw_rows(int nv) { return nv == 2 ? 14 : 24; }

// Lanes [0, valid) of a vector; none when valid <= 0 (the second vector of
// a tail block), all when valid >= 16.
static inline __mmask16 lane_mask(int64_t valid) {
  if (valid <= 0) return 0;
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

// pad_row for channels [c0, c0 + cn) only: dst[px * cn + c] = x_row[(px - pad_left) * cin + c0 + c].
static inline void pad_row_slice(const ConvGeometry& g, const float* x_row, int64_t width,
                                 int64_t c0, int64_t cn, float* dst) {
  const int64_t cin = g.in_c;
  if (cn == cin) {
    pad_row(g, x_row, width, dst);
    return;
  }
  for (int64_t px = 0; px < width; ++px, dst += cn) {
    const int64_t ix = px - g.pad_left;
    if (ix < 0 || ix >= g.in_w)
      std::memset(dst, 0, sizeof(float) * cn);
    else
      std::memcpy(dst, x_row + ix * cin + c0, sizeof(float) * cn);
  }
}

// Row pointers for output rows [oy0, oy1) of one sample: rows[(oy - oy0) *
// kernel_h + kh] points at padded input column 0 of input row oy * stride -
// pad_top + kh * dilation, or is null when that row lies in the padding. Each
// input row the band reads is padded once into buf (band_input_floats).
static inline int64_t band_input_rows_max(const ConvGeometry& g, int64_t band) {
  return (band - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1;
}
static inline int64_t band_input_floats(const ConvGeometry& g, int64_t band) {
  return band_input_rows_max(g, band) * padded_width(g) * g.in_c;
}
static inline void band_input_rows(const ConvGeometry& g, const float* x_sample, int64_t oy0,
                                   int64_t oy1, float* buf, const float** rows) {
  const int64_t width = padded_width(g), cin = g.in_c;
  const bool in_place = rows_need_no_padding(g);
  const int64_t first_iy = oy0 * g.stride_h - g.pad_top;  // buffer row 0 (may be < 0)
  const int64_t end_iy = (oy1 - 1) * g.stride_h - g.pad_top + (g.kernel_h - 1) * g.dilation_h + 1;
  if (!in_place)  // every row of the span (with stride 1, all of them are read)
    for (int64_t iy = first_iy < 0 ? 0 : first_iy; iy < end_iy && iy < g.in_h; ++iy)
      pad_row(g, x_sample + iy * g.in_w * cin, width, buf + (iy - first_iy) * width * cin);
  for (int64_t oy = oy0; oy < oy1; ++oy)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      const int64_t iy = oy * g.stride_h - g.pad_top + kh * g.dilation_h;
      const float** at = rows + (oy - oy0) * g.kernel_h + kh;
      if (iy < 0 || iy >= g.in_h)
        *at = nullptr;
      else
        *at = in_place ? x_sample + iy * g.in_w * cin : buf + (iy - first_iy) * width * cin;
    }
}

// ----- forward ---------------------------------------------------------------
// Loop nest (per task = a chunk of output rows x a group of co blocks):
//   co block (32 channels, its weights stay in L2)
//     K slice: all (kh, kw) x `cin_block` input channels (its weights, <= 16 KB,
//              stay in L1 while every tile of the chunk reuses them)
//       output row of the chunk, tile of <= 14 pixels: R x NV zmm accumulators.
// Partial sums between K slices go through y (exact float32 round trip), so
// every output is one fixed-order FMA chain (slice, kh, kw, ci) whatever the
// chunking and thread count; the bias/activation come with the last slice.

// Input channels per K slice. A kernel block up to 160 KB (3x3 x 128 x 32) is
// one slice: it streams from L2 well, and every extra slice costs a partial-sum
// round trip through y. Bigger ones (cin 256, 512) are cut into ~64 KB slices:
// the chunk is then copied slice-major, so a tile's pixels do not alias in L1
// (cin floats apart), and the next slice is prefetched while one runs.
// Constants, not the running CPU's caches, so a packed layout is the same on
// every machine. (Measured on 3x3 convs, 1 thread: 64 and 128 channels
// unsliced beat 22-43-channel slices by 5-10%; 256 and 512 channels beat whole
// cin by 7-30%.)
static inline int64_t cin_block(int64_t kernel_h, int64_t kernel_w, int64_t cin, int64_t cout) {
  constexpr int64_t kSliceFloats = 16384, kWholeFloats = 40960;
  const int64_t width = vectors_per_block(cout) * kLanes;
  const int64_t per_ci = kernel_h * kernel_w * width;
  if (per_ci * cin <= kWholeFloats) return cin < 1 ? 1 : cin;
  int64_t most = kSliceFloats / per_ci;
  if (most < 1) most = 1;
  const int64_t slices = (cin + most - 1) / most;
  return (cin + slices - 1) / slices;
}

// Floats of one co block's packed weights: [slice][kh][kw][ci in slice][NV*16].
static inline int64_t packed_block_floats(int64_t kernel_h, int64_t kernel_w, int64_t cin,
                                          int64_t cout) {
  return kernel_h * kernel_w * cin * forward_vectors(cin, cout) * kLanes;
}

static inline int64_t packed_floats(int64_t kernel_h, int64_t kernel_w, int64_t cin,
                                    int64_t cout) {
  const int64_t width = forward_vectors(cin, cout) * kLanes;
  return (cout + width - 1) / width * packed_block_floats(kernel_h, kernel_w, cin, cout);
}

// Packs co block b of the kernel (kh_n, kw_n, cin, cout). flip_swap packs the
// kernel of the input-gradient conv instead: w'[kh][kw][o][i] =
// w[KH-1-kh][KW-1-kw][i][o] (then cin = the original cout and vice versa).
constexpr int64_t kPackPrefetchRows = 16;

static inline void pack_forward_block(int64_t kh_n, int64_t kw_n, int64_t cin, int64_t cout,
                                      const float* kernel, bool flip_swap, int64_t b,
                                      float* dst) {
  const int64_t width = forward_vectors(cin, cout) * kLanes;
  const int64_t cb = cin_block(kh_n, kw_n, cin, cout);
  const int64_t co0 = b * width, valid = cout - co0;
  for (int64_t c0 = 0; c0 < cin; c0 += cb) {
    const int64_t cn = cin - c0 < cb ? cin - c0 : cb;
    for (int64_t kh = 0; kh < kh_n; ++kh)
      for (int64_t kw = 0; kw < kw_n; ++kw)
        for (int64_t ci = c0; ci < c0 + cn; ++ci, dst += width) {
          if (!flip_swap) {  // a contiguous run of the kernel row: masked vector copies
            const float* src = kernel + ((kh * kw_n + kw) * cin + ci) * cout + co0;
            // Rows are cout floats apart, too far for the hardware prefetcher.
            const float* ahead = src + kPackPrefetchRows * cout;
            _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(ahead + width - 1), _MM_HINT_T0);
            for (int64_t l = 0; l < width; l += kLanes)
              _mm512_store_ps(dst + l, _mm512_maskz_loadu_ps(lane_mask(valid - l), src + l));
            continue;
          }
          const float* src = kernel + (((kh_n - 1 - kh) * kw_n + (kw_n - 1 - kw)) * cout + co0) * cin + ci;
          for (int64_t l = 0; l < width; ++l) dst[l] = l < valid ? src[l * cin] : 0.0f;
        }
  }
}

static inline void pack_forward_weights(int64_t kh_n, int64_t kw_n, int64_t cin, int64_t cout,
                                        const float* kernel, bool flip_swap, float* packed,
                                        int nt) {
  const int64_t width = forward_vectors(cin, cout) * kLanes, blocks = (cout + width - 1) / width;
  const int64_t block_floats = packed_block_floats(kh_n, kw_n, cin, cout);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t b = 0; b < blocks; ++b)
    pack_forward_block(kh_n, kw_n, cin, cout, kernel, flip_swap, b, packed + b * block_floats);
}

struct ForwardArgs {
  const float* const* rows;  // kernel_h padded input rows (null: padding), at channel c0
  const float* weights;      // this block's packed K slice
  float* y;                  // output pixel ox0, channel co0
  int64_t kernel_h, kernel_w, ld, cn, cout, stride, dilation;  // ld: floats per input pixel
  int64_t valid;             // output channels left from co0 (tail mask)
  const float* bias;         // bias + co0, or null
  bool relu;                 // apply max(0, .) in registers
  bool first, last;          // first K slice: start from 0; last: bias + relu
  bool merged;               // ld == cn and dilation 1: (kw, ci) is one contiguous run
  const char* pf;            // this tile's share of the next slice's weights, to prefetch
  int64_t pf_lines;          // its 64-byte lines
  int64_t pf_per_kh, pf_per_tap;  // lines per kh step / per (kh, kw) step (prefetch_part)
};

// Prefetches part `part` (`per` lines each) of the tile's share of the next
// slice into L2: spread over the tile's (kh, kw) steps, so the requests
// trickle out while the FMAs run instead of queueing up in one burst. `per`
// comes precomputed in ForwardArgs: a 64-bit division here (~60 cycles) per
// step cost 9% of the RGB stem's tiles (27-long K) and made MNIST's 5x5 conv
// 3x slower.
static inline void prefetch_part(const ForwardArgs& a, int64_t part, int64_t per) {
  if (a.pf_lines <= 0) return;
  const int64_t l0 = part * per;
  const int64_t l1 = l0 + per < a.pf_lines ? l0 + per : a.pf_lines;
  for (int64_t l = l0; l < l1; ++l) _mm_prefetch(a.pf + l * 64, _MM_HINT_T1);
}

// The packed weights stream from L2 (a 3x3x64 block is 73 KB), two lines per
// K step: pulling them into L1 eight steps ahead measured 2-7% faster tiles
// than leaving it to the hardware prefetchers (prefetches past the end of
// the buffer are harmless: they never fault).
constexpr int64_t kWeightPrefetchFloats = 256;
template <int NV>
static inline void prefetch_weights_l1(const float* w) {
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v)
    _mm_prefetch(reinterpret_cast<const char*>(w + v * kLanes + kWeightPrefetchFloats),
                 _MM_HINT_T0);
}

// The inputs of R output pixels `step` floats apart, when the step is known
// only at run time: one base pointer per 5 pixels, each reached as base +
// {0, 1, 2, 3, 4} x step through two stride registers, so a 14-pixel tile
// needs 3 bases + 2 strides instead of 14 live pointers (those spilled: the
// tiles of 128- and 52-channel convs ran ~30% slower than the kPix ones).
template <int R>
struct PixelInputs {
  static constexpr int kBases = (R + 4) / 5;
  const char* base[kBases];
  int64_t s1, s3;  // bytes for 1 and 3 pixels
  PixelInputs(const float* first, int64_t step) : s1(step * 4), s3(step * 12) {
    PYCNN_UNROLL
    for (int b = 0; b < kBases; ++b) base[b] = reinterpret_cast<const char*>(first) + 5 * b * s1;
  }
  // Input of pixel r at the current K position.
  PYCNN_ALWAYS_INLINE const float* at(int r) const {
    const char* b = base[r / 5];
    switch (r % 5) {
      case 0: return reinterpret_cast<const float*>(b);
      case 1: return reinterpret_cast<const float*>(b + s1);
      case 2: return reinterpret_cast<const float*>(b + 2 * s1);
      case 3: return reinterpret_cast<const float*>(b + s3);
      default: return reinterpret_cast<const float*>(b + 4 * s1);
    }
  }
  PYCNN_ALWAYS_INLINE void next() {  // one input channel on
    PYCNN_UNROLL
    for (int b = 0; b < kBases; ++b) base[b] += sizeof(float);
  }
};

// One K step of a forward tile: NV weight vectors (the next ones prefetched)
// times the broadcast input of each of the R pixels, input(r). Not forced
// inline: that made the 128-512 channel 3x3 convs of ResNet50 2-8% slower
// (A/B, batch 1), though 5-6% faster on 1- and 3-channel inputs.
template <int NV, int R, typename Input>
static inline void forward_k_step(__m512 (&acc)[R][NV], const float* w, Input input) {
  __m512 wv[NV];
  prefetch_weights_l1<NV>(w);
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_ps(w + v * kLanes);
  PYCNN_UNROLL
  for (int r = 0; r < R; ++r) {
    const __m512 xb = _mm512_set1_ps(input(r));
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
  }
}

// R output pixels from ox0 x NV*16 output channels over one K slice.
// kPix: the floats from one pixel's input to the next (stride * ld) when
// known at compile time, so the R input reads are one base register plus
// constant offsets (a runtime step needs R index registers, which spill).
template <int NV, int R, int kPix = 0>
static inline void forward_tile(const ForwardArgs& a, int64_t ox0) {
  __mmask16 mask[NV];
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v) mask[v] = lane_mask(a.valid - v * kLanes);
  __m512 acc[R][NV];
  if (a.first) {
    PYCNN_UNROLL
    for (int r = 0; r < R; ++r)
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  } else {
    PYCNN_UNROLL
    for (int r = 0; r < R; ++r)
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v)
        acc[r][v] = _mm512_maskz_loadu_ps(mask[v], a.y + (ox0 + r) * a.cout + v * kLanes);
  }
  const int64_t ld = a.ld, cn = a.cn, pix_step = kPix ? kPix : a.stride * ld;
  const int64_t k_row = a.kernel_w * cn * NV * kLanes;
  for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
    const float* row = a.rows[kh];
    if (!row) continue;
    const float* w = a.weights + kh * k_row;
    if (a.merged) {
      prefetch_part(a, kh, a.pf_per_kh);
      const float* xp = row + ox0 * pix_step;
      const int64_t run = a.kernel_w * cn;
      if (kPix) {  // R inputs at constant offsets from one pointer
        _Pragma("GCC unroll 2")
        for (int64_t j = 0; j < run; ++j, w += NV * kLanes)
          forward_k_step<NV, R>(acc, w, [&](int r) { return xp[r * kPix + j]; });
        continue;
      }
      PixelInputs<R> in(xp, pix_step);
      _Pragma("GCC unroll 2")
      for (int64_t j = 0; j < run; ++j, w += NV * kLanes, in.next())
        forward_k_step<NV, R>(acc, w, [&](int r) { return *in.at(r); });
      continue;
    }
    for (int64_t kw = 0; kw < a.kernel_w; ++kw) {
      prefetch_part(a, kh * a.kernel_w + kw, a.pf_per_tap);
      const float* xp = row + (ox0 * a.stride + kw * a.dilation) * ld;
      for (int64_t ci = 0; ci < cn; ++ci, w += NV * kLanes)
        forward_k_step<NV, R>(acc, w, [&](int r) { return xp[r * pix_step + ci]; });
    }
  }
  if (!a.last) {
    PYCNN_UNROLL
    for (int r = 0; r < R; ++r)
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v)
        _mm512_mask_storeu_ps(a.y + (ox0 + r) * a.cout + v * kLanes, mask[v], acc[r][v]);
    return;
  }
  __m512 bias[NV];
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v)
    bias[v] = a.bias ? _mm512_maskz_loadu_ps(mask[v], a.bias + v * kLanes) : _mm512_setzero_ps();
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

// Two output rows x R <= 7 pixels x 32 channels (28 accumulators), for rows
// of at most 7 pixels (7x7 images): 2R + 2 loads feed
// 4R FMAs, where a single-row tile of 7 pixels has 9 loads per 14 FMAs and
// half the accumulators. Row B's pointers are rows_b; a row in the padding
// reads zero_row when the other row of the pair is inside the image.
// kPool: the two rows are conv rows 2py and 2py + 1 and R is even; instead of
// storing them, the tile stores their 2x2 max pooling (after bias and ReLU,
// NaN winning as in max_pool2d_forward): R / 2 pixels of pool row py at a.y,
// pool column ox0 / 2.
template <int R, bool kPool = false>
static inline void forward_tile_pair(const ForwardArgs& a, const float* const* rows_b,
                                     float* y_b, const float* zero_row, int64_t ox0) {
  constexpr int NV = 2;
  __mmask16 mask[NV];
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v) mask[v] = lane_mask(a.valid - v * kLanes);
  __m512 acc[2 * R][NV];
  if (a.first) {
    PYCNN_UNROLL
    for (int r = 0; r < 2 * R; ++r)
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  } else {
    PYCNN_UNROLL
    for (int r = 0; r < 2 * R; ++r)
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v)
        acc[r][v] = _mm512_maskz_loadu_ps(
            mask[v], (r < R ? a.y : y_b) + (ox0 + r % R) * a.cout + v * kLanes);
  }
  const int64_t ld = a.ld, cn = a.cn, pix_step = a.stride * ld;
  const int64_t k_row = a.kernel_w * cn * NV * kLanes;
  for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
    const float* row_a = a.rows[kh];
    const float* row_b = rows_b[kh];
    if (!row_a && !row_b) continue;
    if (!row_a) row_a = zero_row;
    if (!row_b) row_b = zero_row;
    const float* w = a.weights + kh * k_row;
    for (int64_t kw = 0; kw < a.kernel_w; ++kw) {
      prefetch_part(a, kh * a.kernel_w + kw, a.pf_per_tap);
      const int64_t off = (ox0 * a.stride + kw * a.dilation) * ld;
      PixelInputs<R> in_a(row_a + off, pix_step), in_b(row_b + off, pix_step);
      for (int64_t ci = 0; ci < cn; ++ci, w += NV * kLanes, in_a.next(), in_b.next()) {
        prefetch_weights_l1<NV>(w);
        const __m512 w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + kLanes);
        PYCNN_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m512 xv = _mm512_set1_ps(*in_a.at(r));
          acc[r][0] = _mm512_fmadd_ps(xv, w0, acc[r][0]);
          acc[r][1] = _mm512_fmadd_ps(xv, w1, acc[r][1]);
        }
        PYCNN_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m512 xv = _mm512_set1_ps(*in_b.at(r));
          acc[R + r][0] = _mm512_fmadd_ps(xv, w0, acc[R + r][0]);
          acc[R + r][1] = _mm512_fmadd_ps(xv, w1, acc[R + r][1]);
        }
      }
    }
  }
  __m512 bias[NV];
  PYCNN_UNROLL
  for (int v = 0; v < NV; ++v)
    bias[v] = a.last && a.bias ? _mm512_maskz_loadu_ps(mask[v], a.bias + v * kLanes)
                               : _mm512_setzero_ps();
  const __m512 zero = _mm512_setzero_ps();
  if constexpr (kPool) {
    static_assert(R % 2 == 0, "pooled tiles cover whole 2x2 windows");
    auto act = [&](__m512 o, int v) {
      o = _mm512_add_ps(o, bias[v]);
      return a.relu ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(o, zero, _CMP_NLE_UQ), o) : o;
    };
    PYCNN_UNROLL
    for (int p = 0; p < R / 2; ++p) {
      float* out = a.y + (ox0 / 2 + p) * a.cout;
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v) {
        if (mask[v] == 0) continue;
        const __m512 o0 = act(acc[2 * p][v], v), o1 = act(acc[2 * p + 1][v], v);
        const __m512 o2 = act(acc[R + 2 * p][v], v), o3 = act(acc[R + 2 * p + 1][v], v);
        const __m512 best = _mm512_max_ps(_mm512_max_ps(o0, o1), _mm512_max_ps(o2, o3));
        const __mmask16 nan = _mm512_cmp_ps_mask(o0, o1, _CMP_UNORD_Q) |
                              _mm512_cmp_ps_mask(o2, o3, _CMP_UNORD_Q);
        _mm512_mask_storeu_ps(out + v * kLanes, mask[v],
                              _mm512_mask_mov_ps(best, nan, _mm512_set1_ps(__builtin_nanf(""))));
      }
    }
    return;
  }
  PYCNN_UNROLL
  for (int r = 0; r < 2 * R; ++r) {
    float* out = (r < R ? a.y : y_b) + (ox0 + r % R) * a.cout;
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v) {
      if (mask[v] == 0) continue;
      __m512 o = acc[r][v];
      if (a.last) {
        o = _mm512_add_ps(o, bias[v]);
        if (a.relu) o = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(o, zero, _CMP_NLE_UQ), o);
      }
      _mm512_mask_storeu_ps(out + v * kLanes, mask[v], o);
    }
  }
}

// (p[0], p[1]) repeated 8 times: one vbroadcastsd from memory. p is only
// float-aligned, so the load goes through a 4-byte-aligned double type (a
// plain double load is misaligned for UBSan; memcpy made GCC load into a GPR
// and broadcast on port 5, the FMAs' port: the MNIST conv ran 2x slower).
typedef double float_aligned_double __attribute__((aligned(4), may_alias));
static inline __m512 broadcast_pair(const float* p) {
  return _mm512_castpd_ps(_mm512_set1_pd(*reinterpret_cast<const float_aligned_double*>(p)));
}

// One input channel and 8 output channels (MNIST's first conv): a zmm holds
// two neighbouring pixels x 8 channels, lanes interleaved (2c: pixel p, 2c+1:
// pixel p+1, channel c), so no lane idles. Per tap: one 8-byte broadcast of
// x[p + kw], x[p + kw + 1] per pixel pair, the tap's 8 weights duplicated
// lane-wise, one FMA. R pairs (2R pixels, the last pair half when kOdd).
// Stride 1, dilation 1 along x; a.weights is the NV = 1 packing.
template <int R, bool kOdd>
static inline void forward_tile_cin1_pairs(const ForwardArgs& a, int64_t ox0) {
  const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  // interleaved -> (pixel p: 8 channels, pixel p + 1: 8 channels), and back
  const __m512i to_out = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m512i from_out = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  __m512 acc[R];
  PYCNN_UNROLL
  for (int r = 0; r < R; ++r) {
    if (a.first) {
      acc[r] = _mm512_setzero_ps();
    } else {  // a residual already in y
      const __mmask16 m = (kOdd && r == R - 1) ? 0x00FF : 0xFFFF;
      acc[r] = _mm512_permutexvar_ps(from_out,
                                     _mm512_maskz_loadu_ps(m, a.y + (ox0 + 2 * r) * 8));
    }
  }
  for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
    const float* row = a.rows[kh];
    if (!row) continue;
    const float* w = a.weights + kh * a.kernel_w * kLanes;
    const float* xp = row + ox0;
    for (int64_t kw = 0; kw < a.kernel_w; ++kw, w += kLanes, ++xp) {
      const __m512 wv = _mm512_permutexvar_ps(dup, _mm512_load_ps(w));
      PYCNN_UNROLL
      for (int r = 0; r < R; ++r) {
        // the odd last pair reads one pixel (its second half is not stored)
        const __m512 xv = (kOdd && r == R - 1)
                              ? _mm512_set1_ps(xp[2 * r])
                              : broadcast_pair(xp + 2 * r);
        acc[r] = _mm512_fmadd_ps(xv, wv, acc[r]);
      }
    }
  }
  __m512 b16 = _mm512_setzero_ps();
  if (a.last && a.bias)  // (b0..b7, b0..b7): the output layout's
    b16 = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(a.bias)),
                             _mm256_loadu_ps(a.bias), 1);
  const __m512 zero = _mm512_setzero_ps();
  PYCNN_UNROLL
  for (int r = 0; r < R; ++r) {
    __m512 o = _mm512_permutexvar_ps(to_out, acc[r]);
    if (a.last) {
      o = _mm512_add_ps(o, b16);
      // Keep NaN (not-less-or-equal is true for NaN), zero the rest <= 0.
      if (a.relu) o = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(o, zero, _CMP_NLE_UQ), o);
    }
    const __mmask16 m = (kOdd && r == R - 1) ? 0x00FF : 0xFFFF;
    _mm512_mask_storeu_ps(a.y + (ox0 + 2 * r) * 8, m, o);
  }
}

// forward_tile_cin1_pairs for a tile of `pixels` (1..28) pixels.
static inline void forward_tile_cin1_any(const ForwardArgs& a, int64_t ox0, int pixels) {
  switch (pixels) {
#define PYCNN_CIN1_CASE(P) \
  case P: forward_tile_cin1_pairs<(P + 1) / 2, (P % 2) == 1>(a, ox0); break;
    PYCNN_CIN1_CASE(1) PYCNN_CIN1_CASE(2) PYCNN_CIN1_CASE(3) PYCNN_CIN1_CASE(4)
    PYCNN_CIN1_CASE(5) PYCNN_CIN1_CASE(6) PYCNN_CIN1_CASE(7) PYCNN_CIN1_CASE(8)
    PYCNN_CIN1_CASE(9) PYCNN_CIN1_CASE(10) PYCNN_CIN1_CASE(11) PYCNN_CIN1_CASE(12)
    PYCNN_CIN1_CASE(13) PYCNN_CIN1_CASE(14) PYCNN_CIN1_CASE(15) PYCNN_CIN1_CASE(16)
    PYCNN_CIN1_CASE(17) PYCNN_CIN1_CASE(18) PYCNN_CIN1_CASE(19) PYCNN_CIN1_CASE(20)
    PYCNN_CIN1_CASE(21) PYCNN_CIN1_CASE(22) PYCNN_CIN1_CASE(23) PYCNN_CIN1_CASE(24)
    PYCNN_CIN1_CASE(25) PYCNN_CIN1_CASE(26) PYCNN_CIN1_CASE(27) PYCNN_CIN1_CASE(28)
#undef PYCNN_CIN1_CASE
    default: break;
  }
}

static inline void forward_tile_pair_any(const ForwardArgs& a, const float* const* rows_b,
                                         float* y_b, const float* zero_row, int64_t ox0, int r) {
  switch (r) {
    case 1: forward_tile_pair<1>(a, rows_b, y_b, zero_row, ox0); break;
    case 2: forward_tile_pair<2>(a, rows_b, y_b, zero_row, ox0); break;
    case 3: forward_tile_pair<3>(a, rows_b, y_b, zero_row, ox0); break;
    case 4: forward_tile_pair<4>(a, rows_b, y_b, zero_row, ox0); break;
    case 5: forward_tile_pair<5>(a, rows_b, y_b, zero_row, ox0); break;
    case 6: forward_tile_pair<6>(a, rows_b, y_b, zero_row, ox0); break;
    case 7: forward_tile_pair<7>(a, rows_b, y_b, zero_row, ox0); break;
    default: break;
  }
}

// A pooled pair tile (forward_tile_pair<R, true>) of r = 2, 4 or 6 conv pixels.
static inline void forward_tile_pool2_any(const ForwardArgs& a, const float* const* rows_b,
                                          const float* zero_row, int64_t ox0, int r) {
  if (r == 6) forward_tile_pair<6, true>(a, rows_b, nullptr, zero_row, ox0);
  else if (r == 4) forward_tile_pair<4, true>(a, rows_b, nullptr, zero_row, ox0);
  else if (r == 2) forward_tile_pair<2, true>(a, rows_b, nullptr, zero_row, ox0);
}

template <int NV, int kPix = 0>
static inline void forward_tile_any(const ForwardArgs& a, int64_t ox0, int r) {
  switch (r) {
#define PYCNN_CONV_CASE(R) \
  case R: forward_tile<NV, R, kPix>(a, ox0); break;
    PYCNN_CONV_CASE(1) PYCNN_CONV_CASE(2) PYCNN_CONV_CASE(3) PYCNN_CONV_CASE(4)
    PYCNN_CONV_CASE(5) PYCNN_CONV_CASE(6) PYCNN_CONV_CASE(7) PYCNN_CONV_CASE(8)
    PYCNN_CONV_CASE(9) PYCNN_CONV_CASE(10) PYCNN_CONV_CASE(11) PYCNN_CONV_CASE(12)
    PYCNN_CONV_CASE(13) PYCNN_CONV_CASE(14)
#undef PYCNN_CONV_CASE
    default: break;
  }
}

// 64-channel tiles (forward_vectors == 4) of r <= kFwdPixels4 pixels.
static inline void forward_tile_any4(const ForwardArgs& a, int64_t ox0, int r) {
  static_assert(kFwdPixels4 == 6, "one case per tile width");
  switch (r) {
#define PYCNN_CONV_CASE(R) \
  case R: forward_tile<4, R>(a, ox0); break;
    PYCNN_CONV_CASE(1) PYCNN_CONV_CASE(2) PYCNN_CONV_CASE(3)
    PYCNN_CONV_CASE(4) PYCNN_CONV_CASE(5) PYCNN_CONV_CASE(6)
#undef PYCNN_CONV_CASE
    default: break;
  }
}

// The output rows a task covers: whole samples [n0, n1) when a sample's
// input fits the chunk budget, else rows [oy0, oy1) of sample n0.
struct Chunk {
  int64_t n0, n1, oy0, oy1;
  int64_t lo, seg_rows;  // input rows [lo, lo + seg_rows) of each sample are buffered
};

struct ChunkPlan {
  bool whole_samples;
  int64_t per_chunk;   // samples per chunk, or chunks per sample
  int64_t count;
  int64_t unit = 1;    // row chunks start at multiples of unit rows
};

// Tasks are handed out dynamically, one at a time: a thread slowed or
// preempted by another process then takes fewer of them instead of holding
// up the op's barrier. Enough of them per thread to balance, even at batch 1.
constexpr int64_t kTasksPerThread = 2;

// Chunks hold ~256 KB of padded input (a quarter of a 1 MB L2), so they stay
// cached while every co block runs over them.
// unit: chunks start at multiples of `unit` output rows (2 when rows are
// pooled in pairs; out_h is then a multiple of 2).
static inline ChunkPlan plan_chunks(const ConvGeometry& g, int64_t unit = 1) {
  constexpr int64_t kChunkFloats = 64 * 1024;
  const int64_t row_floats = padded_width(g) * g.in_c;
  const int64_t sample_floats = g.in_h * row_floats;
  ChunkPlan p{};
  if (sample_floats <= kChunkFloats) {
    p.whole_samples = true;
    p.per_chunk = sample_floats > 0 ? kChunkFloats / sample_floats : g.batch;
    if (p.per_chunk < 1) p.per_chunk = 1;
    if (p.per_chunk > g.batch) p.per_chunk = g.batch;
    p.count = (g.batch + p.per_chunk - 1) / p.per_chunk;
  } else {
    const int64_t span_h = (g.kernel_h - 1) * g.dilation_h + 1;
    int64_t rows = (kChunkFloats / row_floats - span_h) / g.stride_h + 1;
    if (rows < 1) rows = 1;
    if (rows > g.out_h) rows = g.out_h;
    const int64_t rows_u = rows / unit < 1 ? 1 : rows / unit;
    p.whole_samples = false;
    p.per_chunk = (g.out_h / unit + rows_u - 1) / rows_u;
    p.unit = unit;
    p.count = g.batch * p.per_chunk;
  }
  return p;
}

static inline Chunk chunk_at(const ConvGeometry& g, const ChunkPlan& p, int64_t index) {
  Chunk c{};
  if (p.whole_samples) {
    c.n0 = index * p.per_chunk;
    c.n1 = c.n0 + p.per_chunk < g.batch ? c.n0 + p.per_chunk : g.batch;
    c.oy0 = 0;
    c.oy1 = g.out_h;
  } else {
    c.n0 = index / p.per_chunk;
    c.n1 = c.n0 + 1;
    const int64_t j = index % p.per_chunk, units = g.out_h / p.unit;
    c.oy0 = p.unit * (units * j / p.per_chunk);
    c.oy1 = p.unit * (units * (j + 1) / p.per_chunk);
  }
  const int64_t span_h = (g.kernel_h - 1) * g.dilation_h + 1;
  int64_t lo = c.oy0 * g.stride_h - g.pad_top;
  int64_t hi = (c.oy1 - 1) * g.stride_h - g.pad_top + span_h;
  if (lo < 0) lo = 0;
  if (hi > g.in_h) hi = g.in_h;
  c.lo = lo;
  c.seg_rows = hi > lo ? hi - lo : 0;
  return c;
}

// Whether forward can pool conv g's output by pg in its tiles: 2x2 windows at
// stride 2 from the corner (unpadded), a ReLU or linear epilogue, 32-channel
// blocks, one K slice (the tiles then see whole sums), a kernel that is not 1x1,
// and at most 4 input channels. With so short a K loop, storing the conv
// output and pooling it back cost as much as the FMAs: against conv + pool
// over bands, 1.15-1.48x (3 -> 32 at 150x150, 1 -> 32 at 28x28); with 32 or
// 64 inputs the pooled tiles' 24 accumulators (2 rows x 6 pixels) lose what
// the band round trip costs (0.93-1.10x), so those keep the bands.
static inline bool forward_pools_2x2(const ConvGeometry& g, const PoolGeometry& pg,
                                     const Epilogue* ep) {
  const bool act_ok = !ep || ep->act == Act::linear || ep->act == Act::relu;
  const bool windows_ok = pg.pool_h == 2 && pg.pool_w == 2 && pg.stride_h == 2 &&
                          pg.stride_w == 2 && pg.pad_top == 0 && pg.pad_left == 0 &&
                          pg.out_h == g.out_h / 2 && pg.out_w == g.out_w / 2 &&
                          pg.out_h > 0 && pg.out_w > 0;
  const bool one_slice = cin_block(g.kernel_h, g.kernel_w, g.in_c, g.out_c) >= g.in_c;
  return act_ok && windows_ok && one_slice && g.in_c <= 4 && pg.batch == g.batch &&
         pg.channels == g.out_c && forward_vectors(g.in_c, g.out_c) == 2 &&
         !(g.kernel_h == 1 && g.kernel_w == 1);
}

// y = act(conv(x, kernel) + bias) by the direct kernel (with accumulate, y
// holds a residual on entry that the first K slice starts from). packed: the whole
// packed kernel (pack_forward_weights), or null to pack here. flip_swap: kernel
// is the original conv's (see pack_forward_block).
// pool (forward_pools_2x2): y is the 2x2/2 max pooling of the conv output,
// computed in the tiles' registers (forward_tile_pair<R, true>); only the conv
// rows and columns its windows read are computed.
static inline void forward(const ConvGeometry& g_in, const float* x, const float* kernel,
                           bool flip_swap, const float* packed, const Epilogue* ep, float* y,
                           bool accumulate = false, const PoolGeometry* pool = nullptr) {
  ConvGeometry g = g_in;
  if (pool) {
    g.out_h = 2 * pool->out_h;
    g.out_w = 2 * pool->out_w;
  }
  const int64_t cout = g.out_c, out_w = g.out_w, cin = g.in_c;
  if (g.batch * g.out_h * out_w == 0 || cout == 0) return;
  const int nv = forward_vectors(cin, cout);
  const int64_t width = nv * kLanes, blocks = (cout + width - 1) / width;
  const int64_t kh_n = g.kernel_h, kw_n = g.kernel_w;
  const int64_t block_floats = packed_block_floats(kh_n, kw_n, cin, cout);
  const int64_t cb = cin_block(kh_n, kw_n, cin, cout);
  const int64_t slices = (cin + cb - 1) / cb;
  const int nt = threads_for_work(2.0 * g.batch * g.out_h * out_w * kh_n * kw_n * cin * cout);

  const ChunkPlan plan = plan_chunks(g, pool ? 2 : 1);
  // Co-block groups: enough tasks for the threads even at batch 1.
  int64_t groups = 1;
  while (plan.count * groups < kTasksPerThread * nt && groups < blocks) ++groups;
  const int64_t tasks = plan.count * groups;
  // Weights shared by several chunks are packed once up front; a single chunk
  // packs each co block inside its task (parallel, and still in L2 when used).
  const bool pack_in_task = !packed && plan.count == 1;
  if (!packed && !pack_in_task) {
    float* buf = workspace_floats(static_cast<size_t>(blocks * block_floats),
                                  convtile::kSlotKernelT);
    pack_forward_weights(kh_n, kw_n, cin, cout, kernel, flip_swap, buf, nt);
    packed = buf;
  }

  const bool fast_act = !ep || ep->act == Act::linear || ep->act == Act::relu ||
                        ep->act == Act::softmax;
  // Unpadded rows are read in place when one slice covers every channel;
  // else the chunk is copied slice-major ([slice][row][px][cn]): a pixel's
  // slice channels are then contiguous, not cin floats apart (with cin = 512
  // the tile's pixels all fell into two L1 sets).
  const bool in_place = rows_need_no_padding(g) && slices == 1;
  const bool merged = g.dilation_w == 1 || kw_n == 1;
  // One input and 8 output channels, stride and dilation 1 along x: pixel
  // pairs share a zmm (forward_tile_cin1_pairs), up to 28 pixels a tile.
  const bool cin1_pairs = cin == 1 && cout == 8 && g.stride_w == 1 &&
                          (g.dilation_w == 1 || kw_n == 1);
  // Tiles split the row in units of unit_w pixels (pooled: whole windows,
  // at most 3 a tile: 2 rows x 6 pixels x 32 channels = 24 accumulators).
  const int64_t unit_w = pool ? 2 : 1, units = out_w / unit_w;
  const int max_r = pool ? 3 : cin1_pairs ? 28 : max_fwd_pixels(nv);
  const int64_t tiles = (units + max_r - 1) / max_r;
  const int64_t tile_q = units / tiles, tile_r = units % tiles;
  const int64_t pw = padded_width(g), row_floats = pw * cin;
  const int64_t chunk_rows_max = plan.whole_samples ? plan.per_chunk * g.out_h
                                                    : g.out_h / plan.per_chunk + plan.unit;
  const int64_t seg_max = plan.whole_samples
                              ? g.in_h
                              : (chunk_rows_max - 1) * g.stride_h + (kh_n - 1) * g.dilation_h + 1;
  const int64_t buf_rows = (plan.whole_samples ? plan.per_chunk : 1) * seg_max;
  const int64_t pad_floats = in_place ? 0 : buf_rows * row_floats;
  const int64_t ptr_floats = 2 * (chunk_rows_max + 2) * kh_n + 16;  // 8-byte entries
  // Pairs of narrow rows (see forward_tile_pair), 32-channel blocks.
  const bool pairs = pool || (nv == 2 && !cin1_pairs && (out_w + tiles - 1) / tiles <= 7);
  const int64_t zero_floats = pairs ? pw * cin + 16 : 0;
  ParallelFailure failure;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t task = 0; task < tasks; ++task) {
    failure.run([&] {
      const Chunk c = chunk_at(g, plan, task / groups);
      const int64_t grp = task % groups;
      const int64_t b0 = blocks * grp / groups, b1 = blocks * (grp + 1) / groups;
      float* buf = workspace_floats(
          static_cast<size_t>(pad_floats + zero_floats + ptr_floats + 32), convtile::kSlotCol);
      float* zero_row = buf + pad_floats;
      if (pairs) std::memset(zero_row, 0, sizeof(float) * zero_floats);
      const int64_t ptr_at = pad_floats + zero_floats;
      int64_t* row_at = reinterpret_cast<int64_t*>(buf + ptr_at + (16 - ptr_at % 16) % 16);
      const float** slice_rows = reinterpret_cast<const float**>(row_at + chunk_rows_max * kh_n);
      const float** slice_rows_b = slice_rows + kh_n;
      const int64_t seg_rows = c.seg_rows, rows_buffered = (c.n1 - c.n0) * seg_rows;
      // Padded copies of the chunk's input rows, slice by slice.
      if (!in_place)
        for (int64_t s = 0; s < slices; ++s) {
          const int64_t c0 = s * cb, cn = cin - c0 < cb ? cin - c0 : cb;
          float* dst = buf + c0 * rows_buffered * pw;
          for (int64_t n = c.n0; n < c.n1; ++n)
            for (int64_t i = 0; i < seg_rows; ++i, dst += pw * cn)
              pad_row_slice(g, x + ((n * g.in_h) + c.lo + i) * g.in_w * cin, pw, c0, cn, dst);
        }
      // row_at[r][kh]: index of the buffered (or, in place, global) input row, -1 in padding.
      const int64_t rows_per_n = c.oy1 - c.oy0;
      const int64_t first_y_row = c.n0 * g.out_h + c.oy0;
      const int64_t chunk_rows = (c.n1 - c.n0) * rows_per_n;
      for (int64_t r = 0, n = c.n0, oy = c.oy0; r < chunk_rows; ++r) {  // (n, oy) of row r
        if (r > 0 && ++oy == c.oy0 + rows_per_n) {
          oy = c.oy0;
          ++n;
        }
        for (int64_t kh = 0; kh < kh_n; ++kh) {
          const int64_t iy = oy * g.stride_h - g.pad_top + kh * g.dilation_h;
          int64_t at = -1;
          if (iy >= 0 && iy < g.in_h) at = in_place ? n * g.in_h + iy : (n - c.n0) * seg_rows + iy - c.lo;
          row_at[r * kh_n + kh] = at;
        }
      }
      // One slice: rows outer, the group's co blocks inner, so a row's input
      // stays in L1 across the blocks (whose weights, <= 160 KB each, stay in
      // L2). Several slices: blocks outer, so one slice serves the whole chunk.
      const bool rows_outer = slices == 1;
      // Rows outer: each tile also pulls a share of the input rows of the chunk
      // this thread most likely runs next (one contiguous range of x) into L2,
      // so that padded copy / in-place read does not wait on DRAM (the copy
      // alone was ~4% of a batch-32 conv).
      const char* next_input = nullptr;
      int64_t next_input_lines = 0, input_lines_per_call = 0, input_call = 0;
      const int64_t next_task = task + nt;  // this thread's next task when threads alternate
      if (rows_outer && next_task < tasks && next_task / groups != task / groups) {
        const Chunk nc = chunk_at(g, plan, next_task / groups);
        const int64_t row_floats_in = g.in_w * cin;
        next_input = reinterpret_cast<const char*>(x + (nc.n0 * g.in_h + nc.lo) * row_floats_in);
        next_input_lines = ((nc.n1 - nc.n0) * nc.seg_rows * row_floats_in * 4 + 63) / 64;
        const int64_t row_steps = pairs ? (chunk_rows + 1) / 2 : chunk_rows;
        const int64_t all_calls = row_steps * tiles * (b1 - b0);
        input_lines_per_call = all_calls > 0 ? (next_input_lines + all_calls - 1) / all_calls : 0;
      }
      float* group_w = nullptr;
      if (pack_in_task && rows_outer) {
        group_w = workspace_floats(static_cast<size_t>((b1 - b0) * block_floats),
                                   convtile::kSlotKernelT);
        for (int64_t b = b0; b < b1; ++b)
          pack_forward_block(kh_n, kw_n, cin, cout, kernel, flip_swap, b,
                             group_w + (b - b0) * block_floats);
      }
      for (int64_t rr0 = 0; rr0 < chunk_rows;) {
      const int64_t rr1 = !rows_outer ? chunk_rows
                          : (pairs && rr0 + 1 < chunk_rows ? rr0 + 2 : rr0 + 1);
      for (int64_t b = b0; b < b1; ++b) {
        const float* wb;
        if (group_w) {
          wb = group_w + (b - b0) * block_floats;
        } else if (pack_in_task) {
          float* wbuf = workspace_floats(static_cast<size_t>(block_floats), convtile::kSlotKernelT);
          pack_forward_block(kh_n, kw_n, cin, cout, kernel, flip_swap, b, wbuf);
          wb = wbuf;
        } else {
          wb = packed + b * block_floats;
        }
        for (int64_t s = 0; s < slices; ++s) {
          const int64_t c0 = s * cb, cn = cin - c0 < cb ? cin - c0 : cb;
          const int64_t ld = in_place ? cin : cn;
          const float* base = in_place ? x : buf + c0 * rows_buffered * pw;
          const int64_t row_step = in_place ? g.in_w * cin : pw * cn;
          const int64_t slice_floats = kh_n * kw_n * cn * width;
          ForwardArgs a{slice_rows, wb + c0 * kh_n * kw_n * width, nullptr,
                        kh_n, kw_n, ld, cn, cout, g.stride_w, g.dilation_w,
                        cout - b * width, nullptr, false, s == 0 && !accumulate, s == slices - 1,
                        merged && ld == cn, nullptr, 0, 0, 0};
          if (fast_act) {
            a.bias = ep && ep->bias ? ep->bias + b * width : nullptr;
            a.relu = ep && ep->act == Act::relu;
          }
          // The common pixel steps (32 and 64 channels, stride 1) get their own
          // tiles: 8-9% faster there, no gain measured at 128.
          const int64_t pix = a.stride * a.ld;
          const char* next_slice = reinterpret_cast<const char*>(a.weights + slice_floats);
          const int64_t slice_lines = slice_floats * 4 / 64;
          const int64_t calls = (pairs ? (chunk_rows + 1) / 2 : chunk_rows) * tiles;
          const int64_t lines_per_call = rows_outer ? 0 : (slice_lines + calls - 1) / calls;
          int64_t call = 0;
          const int64_t call_lines = rows_outer ? input_lines_per_call : lines_per_call;
          a.pf_per_kh = (call_lines + kh_n - 1) / kh_n;
          a.pf_per_tap = (call_lines + kh_n * kw_n - 1) / (kh_n * kw_n);
          for (int64_t r = rr0; r < rr1;) {
            const bool pair = pairs && r + 1 < rr1;
            const int64_t step = pair ? 2 : 1;
            for (int64_t k = 0; k < step; ++k)
              for (int64_t kh = 0; kh < kh_n; ++kh) {
                const int64_t at = row_at[(r + k) * kh_n + kh];
                (k ? slice_rows_b : slice_rows)[kh] = at < 0 ? nullptr : base + at * row_step;
              }
            // A chunk's rows are consecutive rows of y (whole samples, or rows
            // of one sample), so no division per row.
            a.y = pool ? y + (first_y_row + r) / 2 * pool->out_w * cout + b * width
                       : y + (first_y_row + r) * out_w * cout + b * width;
            float* y_b = a.y + out_w * cout;
            // Even split of the row into tiles of at most max_r pixels: tile t
            // starts at out_w * t / tiles, stepped without a division per tile
            // (a 64-bit division costs about as much as a small tile's FMAs).
            int64_t ox0 = 0, tile_rem = 0;
            for (int64_t t = 0; t < tiles; ++t, ++call) {
              int64_t ox1 = ox0 + tile_q;
              tile_rem += tile_r;
              if (tile_rem >= tiles) {
                tile_rem -= tiles;
                ++ox1;
              }
              const int rt = static_cast<int>(ox1 - ox0);
              // Each tile pulls its share of the next slice's weights (they follow
              // this slice in the packing) into L2: no stall on L3 at the next slice.
              const int64_t first_line = call * lines_per_call;
              if (rows_outer) {
                const int64_t first = input_call++ * input_lines_per_call;
                a.pf = next_input + first * 64;
                a.pf_lines = first >= next_input_lines ? 0
                             : (next_input_lines - first < input_lines_per_call
                                    ? next_input_lines - first : input_lines_per_call);
              } else {
                a.pf = next_slice + first_line * 64;
                a.pf_lines = first_line >= slice_lines ? 0
                             : (slice_lines - first_line < lines_per_call ? slice_lines - first_line
                                                                           : lines_per_call);
              }
              if (pool)
                forward_tile_pool2_any(a, slice_rows_b, zero_row, ox0 * unit_w, rt * unit_w);
              else if (cin1_pairs)
                forward_tile_cin1_any(a, ox0, rt);
              else if (pair)
                forward_tile_pair_any(a, slice_rows_b, y_b, zero_row, ox0, rt);
              else if (nv == 4)
                forward_tile_any4(a, ox0, rt);
              else if (nv == 2 && pix == 32)
                forward_tile_any<2, 32>(a, ox0, rt);
              else if (nv == 2 && pix == 64)
                forward_tile_any<2, 64>(a, ox0, rt);
              else if (nv == 2)
                forward_tile_any<2>(a, ox0, rt);
              else
                forward_tile_any<1>(a, ox0, rt);
              ox0 = ox1;
            }
            r += step;
          }
        }
        if (!fast_act) {
          Epilogue e = *ep;
          if (e.bias) e.bias += b * width;
          const int64_t n_ch = cout - b * width < width ? cout - b * width : width;
          for (int64_t r = rr0; r < rr1; ++r) {
            const int64_t n = c.n0 + r / rows_per_n, oy = c.oy0 + r % rows_per_n;
            float* y_row = y + (n * g.out_h + oy) * out_w * cout + b * width;
            for (int64_t ox = 0; ox < out_w; ++ox)
              gemm_detail::epilogue_row(y_row + ox * cout, n_ch, &e);
          }
        }
      }
      rr0 = rr1;
      }
    });
  }
  failure.rethrow();
}

// ----- backward weights --------------------------------------------------------

struct WeightGradArgs {
  const float* const* rows;  // rows[b * rows_step]: padded input row of this kh for
  int64_t rows_step;         //   band row b, or null (padding)
  int64_t band;              // output rows in the band
  const float* dz;           // dz of band row 0, channel co0 (row b: + b * out_w * cout)
  float* dw;                 // dw[kh][j0][co0]
  int64_t out_w, cout, pix_step;  // pix_step = stride * cin
  const int64_t* offsets;         // J offsets of (kw, ci) rows in a padded pixel
  int64_t valid;                  // output channels left from co0
};

// dw[j][co] += sum over the band's rows b, then ox, of
// row_b[ox * pix_step + offsets[j]] * dz_b[ox][co]: the accumulators stay in
// registers across the band (loading and storing 24 of them per 56-pixel row
// cost ~15%), in the same FMA order as row by row.
// kContiguous (dilation 1): offsets[j] = offsets[0] + j, immediates in the
// address instead of J offset registers (which spill with J = 12).
constexpr int64_t kWeightGradPrefetchPixels = 4;
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
  const int64_t out_w = a.out_w, pix_step = a.pix_step, cout = a.cout;
  for (int64_t b = 0; b < a.band; ++b) {
    const float* row = a.rows[b * a.rows_step];
    if (!row) continue;
    const float* xp = kContiguous ? row + a.offsets[0] : row;
    const float* dzp = a.dz + b * out_w * cout;
    for (int64_t ox = 0; ox < out_w; ++ox, xp += pix_step, dzp += cout) {
      __m512 d[NV];
      // dz and x lines kWeightGradPrefetchPixels pixels ahead into L1: a row's
      // x and dz outgrow L1 across the tasks of a row, and the hardware
      // prefetchers left the dz loads waiting on L2 (2-7% faster).
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v)
        _mm_prefetch(reinterpret_cast<const char*>(dzp + kWeightGradPrefetchPixels * cout +
                                                   v * kLanes), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(xp + kWeightGradPrefetchPixels * pix_step + off[0]),
                   _MM_HINT_T0);
      PYCNN_UNROLL
      for (int v = 0; v < NV; ++v) d[v] = _mm512_maskz_loadu_ps(mask[v], dzp + v * kLanes);
      PYCNN_UNROLL
      for (int j = 0; j < J; ++j) {
        const __m512 xb = _mm512_set1_ps(xp[off[j]]);
        PYCNN_UNROLL
        for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(xb, d[v], acc[j][v]);
      }
    }
  }
  PYCNN_UNROLL
  for (int j = 0; j < J; ++j)
    PYCNN_UNROLL
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(a.dw + j * a.cout + v * kLanes, mask[v], acc[j][v]);
}

// weight_grad_tile for one input and 8 output channels, stride 1, dilation
// 1: two pixels' dz (16 contiguous floats) per zmm, interleaved (lane 2c:
// pixel p, 2c + 1: pixel p + 1, channel c) to match an 8-byte broadcast of
// x[p + j], x[p + j + 1]; two accumulator sets when they fit, so the FMA
// chains overlap. Lanes 2c and 2c + 1 are summed into dw[j][c] at the end.
template <int J>
static inline void weight_grad_tile_cin1_row(const WeightGradArgs& a, const float* row,
                                             const float* dz) {
  constexpr int S = J <= 12 ? 2 : 1;
  const __m512i interleave =
      _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  __m512 acc[S][J];
  PYCNN_UNROLL
  for (int t = 0; t < S; ++t)
    PYCNN_UNROLL
    for (int j = 0; j < J; ++j) acc[t][j] = _mm512_setzero_ps();
  const float* xp = row + a.offsets[0];
  const int64_t out_w = a.out_w;
  int64_t ox = 0;
  for (; ox + 2 * S <= out_w; ox += 2 * S) {
    PYCNN_UNROLL
    for (int t = 0; t < S; ++t) {
      const __m512 d = _mm512_permutexvar_ps(interleave, _mm512_loadu_ps(dz + (ox + 2 * t) * 8));
      PYCNN_UNROLL
      for (int j = 0; j < J; ++j) {
        const __m512 xb = broadcast_pair(xp + ox + 2 * t + j);
        acc[t][j] = _mm512_fmadd_ps(xb, d, acc[t][j]);
      }
    }
  }
  for (; ox < out_w; ox += 2) {  // the last pair, or a single pixel (odd lanes zero)
    const bool one = ox + 1 == out_w;
    const __m512 d = _mm512_permutexvar_ps(
        interleave, _mm512_maskz_loadu_ps(one ? 0x00FF : 0xFFFF, dz + ox * 8));
    PYCNN_UNROLL
    for (int j = 0; j < J; ++j) {
      const __m512 xb = one ? _mm512_set1_ps(xp[ox + j])
                            : broadcast_pair(xp + ox + j);
      acc[0][j] = _mm512_fmadd_ps(xb, d, acc[0][j]);
    }
  }
  const __m512i evens_then_odds =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  PYCNN_UNROLL
  for (int j = 0; j < J; ++j) {
    __m512 v = acc[0][j];
    if constexpr (S == 2) v = _mm512_add_ps(v, acc[1][j]);
    v = _mm512_permutexvar_ps(evens_then_odds, v);
    const __m256 sum = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    float* dw = a.dw + j * 8;
    _mm256_storeu_ps(dw, _mm256_add_ps(_mm256_loadu_ps(dw), sum));
  }
}

// Row by row: each row's pair sums are added into dw (as before bands).
template <int J>
static inline void weight_grad_tile_cin1_pairs(const WeightGradArgs& a) {
  for (int64_t b = 0; b < a.band; ++b)
    if (const float* row = a.rows[b * a.rows_step])
      weight_grad_tile_cin1_row<J>(a, row, a.dz + b * a.out_w * 8);
}

static inline void weight_grad_tile_cin1_any(const WeightGradArgs& a, int j) {
  switch (j) {
#define PYCNN_CIN1_CASE(J) \
  case J: weight_grad_tile_cin1_pairs<J>(a); break;
    PYCNN_CIN1_CASE(1) PYCNN_CIN1_CASE(2) PYCNN_CIN1_CASE(3) PYCNN_CIN1_CASE(4)
    PYCNN_CIN1_CASE(5) PYCNN_CIN1_CASE(6) PYCNN_CIN1_CASE(7) PYCNN_CIN1_CASE(8)
    PYCNN_CIN1_CASE(9) PYCNN_CIN1_CASE(10) PYCNN_CIN1_CASE(11) PYCNN_CIN1_CASE(12)
    PYCNN_CIN1_CASE(13) PYCNN_CIN1_CASE(14) PYCNN_CIN1_CASE(15) PYCNN_CIN1_CASE(16)
#undef PYCNN_CIN1_CASE
    default: break;
  }
}

template <int NV, bool kContiguous>
static inline void weight_grad_tile_any(const WeightGradArgs& a, int j) {
  switch (j) {
#define PYCNN_CONV_CASE(J) \
  case J: weight_grad_tile<NV, (J <= (NV == 2 ? 14 : 24) ? J : 1), kContiguous>(a); break;
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

// db[0, valid) += the dz of one output row (pixels in order; channel block of
// nv vectors). db is a running sum per channel through memory, which is exact,
// so the bits equal one pass over every pixel in registers.
static inline void bias_grad_row(const float* dz_row, int64_t out_w, int64_t cout, int nv,
                                 int64_t valid, float* db) {
  __mmask16 m[2];
  __m512 acc[2];
  for (int v = 0; v < nv; ++v) {
    m[v] = lane_mask(valid - v * kLanes);
    acc[v] = _mm512_maskz_loadu_ps(m[v], db + v * kLanes);
  }
  for (int64_t ox = 0; ox < out_w; ++ox, dz_row += cout) {
    acc[0] = _mm512_add_ps(acc[0], _mm512_maskz_loadu_ps(m[0], dz_row));
    if (nv == 2) acc[1] = _mm512_add_ps(acc[1], _mm512_maskz_loadu_ps(m[1], dz_row + kLanes));
  }
  for (int v = 0; v < nv; ++v) _mm512_mask_storeu_ps(db + v * kLanes, m[v], acc[v]);
}

// How weight_grad splits its work.
struct WeightGradPlan {
  int64_t cin, cout, kh_n, kw_n, rows_j;  // rows_j: dw rows per kh, the (kw, ci) index
  int nv;
  int64_t width, co_blocks, j_blocks, tasks;  // a task: (kh, j block, co block) of dw
  bool cin1_pairs, contiguous;
  int64_t in_floats, band_rows, groups_per_sample, band_max, band_floats;
  int64_t units;  // (sample, row group) pairs, in (n, group) order
};

// Sums into dw/db (already holding a running sum) tasks [first, last) over
// units [u0, u1): per unit its input rows are padded once, then band by band
// every task's tile runs over the band. Scratch: this thread's workspace.
static inline void weight_grad_range(const ConvGeometry& g, const WeightGradPlan& p,
                                     const float* x, const float* dz,
                                     const MaxPoolGrad* pooled, float* dw, float* db,
                                     int64_t u0, int64_t u1, int64_t first, int64_t last) {
  const int64_t cout = p.cout, kh_n = p.kh_n, rows_j = p.rows_j, co_blocks = p.co_blocks;
  const int64_t j_blocks = p.j_blocks, width = p.width, band_rows = p.band_rows;
  float* buf = workspace_floats(
      static_cast<size_t>(p.band_floats + 2 * p.band_max * kh_n + 2 * rows_j +
                          2 * (j_blocks + 1) + 32),
      convtile::kSlotCol);
  int64_t* offsets =
      reinterpret_cast<int64_t*>(buf + p.band_floats + (16 - p.band_floats % 16) % 16);
  const float** rows = reinterpret_cast<const float**>(offsets + rows_j);
  int64_t* j_start = reinterpret_cast<int64_t*>(rows + p.band_max * kh_n);  // dw rows of each j block
  for (int64_t j = 0; j < rows_j; ++j)
    offsets[j] = (j / p.cin) * g.dilation_w * p.cin + j % p.cin;
  for (int64_t jb = 0; jb <= j_blocks; ++jb) j_start[jb] = rows_j * jb / j_blocks;
  float* dz_rebuilt =
      pooled ? workspace_floats(static_cast<size_t>(band_rows * g.out_w * cout),
                                convtile::kSlotPooledDz)
             : nullptr;
  // (kh, jb, cb) of task `first`; later tasks step them like digits (the
  // three divisions per task and row cost more than MNIST's whole tile).
  const int64_t kh_first = first / (j_blocks * co_blocks);
  const int64_t jb_first = (first / co_blocks) % j_blocks, cb_first = first % co_blocks;
  for (int64_t unit = u0; unit < u1; ++unit) {
    const int64_t n = unit / p.groups_per_sample, group = unit % p.groups_per_sample;
    const int64_t gy0 = g.out_h * group / p.groups_per_sample;
    const int64_t gy1 = g.out_h * (group + 1) / p.groups_per_sample;
    band_input_rows(g, x + n * p.in_floats, gy0, gy1, buf, rows);
    for (int64_t oy0 = gy0; oy0 < gy1; oy0 += band_rows) {
      const int64_t band = gy1 - oy0 < band_rows ? gy1 - oy0 : band_rows;
      const float** band_ptrs = rows + (oy0 - gy0) * kh_n;
      const float* dz_band = dz_rebuilt;
      if (!pooled) {
        dz_band = dz + (n * g.out_h + oy0) * g.out_w * cout;
      } else {
        for (int64_t b = 0; b < band; ++b)
          max_pool_backward_tiled_row(*pooled->pool, pooled->dy, pooled->argmax,
                                      pooled->relu_y, n * g.out_h + oy0 + b,
                                      dz_rebuilt + b * g.out_w * cout);
      }
      int64_t next_kh = kh_first, next_jb = jb_first, next_cb = cb_first;
      for (int64_t task = first; task < last; ++task) {
        const int64_t kh = next_kh, jb = next_jb, cb = next_cb;
        if (++next_cb == co_blocks) {
          next_cb = 0;
          if (++next_jb == j_blocks) {
            next_jb = 0;
            ++next_kh;
          }
        }
        // db rides along with one task per channel block, while the dz rows
        // are in cache (a separate pass read all of dz from DRAM again:
        // ~7 ms of a seed-000 training step).
        if (db && kh == 0 && jb == 0)
          for (int64_t b = 0; b < band; ++b)
            bias_grad_row(dz_band + b * g.out_w * cout + cb * width, g.out_w, cout, p.nv,
                          cout - cb * width, db + cb * width);
        const int64_t j0 = j_start[jb], j1 = j_start[jb + 1];
        WeightGradArgs a{band_ptrs + kh, kh_n, band, dz_band + cb * width,
                         dw + (kh * rows_j + j0) * cout + cb * width,
                         g.out_w, cout, g.stride_w * p.cin, offsets + j0, cout - cb * width};
        const int j_count = static_cast<int>(j1 - j0);
        if (p.cin1_pairs) {
          weight_grad_tile_cin1_any(a, j_count);
        } else if (p.contiguous) {
          if (p.nv == 2)
            weight_grad_tile_any<2, true>(a, j_count);
          else
            weight_grad_tile_any<1, true>(a, j_count);
        } else {
          if (p.nv == 2)
            weight_grad_tile_any<2, false>(a, j_count);
          else
            weight_grad_tile_any<1, false>(a, j_count);
        }
      }
    }
  }
}

// dw = sum over (n, oy, ox) of padded x patches times dz; db = sum of dz.
// With `pooled` (then dz is unused; its pooling tiles: stride == pool), each
// thread builds a band's dz from the pool's dy into a buffer that stays in
// L1/L2, the same values max_pool2d_backward would store: the same bits,
// without writing and re-reading a conv-sized dz (46 MB a seed-000 step).
//
// Two ways to share the work, chosen from the geometry alone (so the bits
// never depend on the thread count):
//  - small dw (<= kChunkedMaxFloats): the units are cut into up to kMaxChunks
//    fixed chunks, each summed by one thread into its own copy of dw, the
//    copies then added in chunk order. Each thread reads only its chunks' x
//    and dz (the RGB stem's 27 x 32 dw: with the tasks split instead, both
//    threads read, and rebuilt from the pool, all of it: 2 threads no faster
//    than 1).
//  - else the dw tasks are split between the threads, each running over
//    every unit, so each dw element is one running sum (no partial copies of
//    a big dw).
constexpr int64_t kWeightGradMaxChunks = 8;
constexpr int64_t kWeightGradChunkedMaxFloats = 64 * 1024;
static inline void weight_grad(const ConvGeometry& g, const float* x, const float* dz,
                               float* dw, float* db, const MaxPoolGrad* pooled = nullptr) {
  WeightGradPlan p{};
  p.cin = g.in_c;
  p.cout = g.out_c;
  p.kw_n = g.kernel_w;
  p.kh_n = g.kernel_h;
  p.rows_j = p.kw_n * p.cin;
  const int64_t weight_floats = p.kh_n * p.rows_j * p.cout;
  std::memset(dw, 0, sizeof(float) * weight_floats);
  if (db) std::memset(db, 0, sizeof(float) * p.cout);
  const int64_t out_rows = g.batch * g.out_h;
  if (out_rows * g.out_w == 0) return;
  p.nv = vectors_per_block(p.cout);
  p.width = p.nv * kLanes;
  p.co_blocks = (p.cout + p.width - 1) / p.width;
  // One input and 8 output channels, stride and dilation 1 along x: pixel
  // pairs per zmm (weight_grad_tile_cin1_pairs), at most 16 dw rows a tile.
  p.cin1_pairs = p.cin == 1 && p.cout == 8 && g.stride_w == 1 &&
                 (g.dilation_w == 1 || p.kw_n == 1);
  const int max_j = p.cin1_pairs ? 16 : max_dw_rows(p.nv);
  p.j_blocks = (p.rows_j + max_j - 1) / max_j;
  p.in_floats = g.in_h * g.in_w * p.cin;
  p.contiguous = g.dilation_w == 1 || p.kw_n == 1;
  // Bands of output rows of one sample, ~kBandPixels pixels: a tile keeps
  // its accumulators over the band. Longer bands no longer keep a task's x
  // and dz lines in L1 across the tasks of a band (8 rows of 56 pixels ran
  // 8% slower than 1). Input rows are padded once per group of bands of at
  // least kPadRows rows (row by row, a 3x3 conv padded each row 3 times).
  constexpr int64_t kBandPixels = 100, kBandRowsMax = 16, kPadRows = 8;
  int64_t band_rows = kBandPixels / (g.out_w > 0 ? g.out_w : 1);
  p.band_rows = band_rows < 1 ? 1 : (band_rows > kBandRowsMax ? kBandRowsMax : band_rows);
  const int64_t pad_rows = p.band_rows * ((kPadRows + p.band_rows - 1) / p.band_rows);
  p.groups_per_sample = (g.out_h + pad_rows - 1) / pad_rows;
  p.band_max = (g.out_h + p.groups_per_sample - 1) / p.groups_per_sample;
  p.band_floats = band_input_floats(g, p.band_max);
  p.units = g.batch * p.groups_per_sample;
  int nt = threads_for_work(2.0 * out_rows * g.out_w * weight_floats);

  const int64_t chunks = weight_floats <= kWeightGradChunkedMaxFloats
                             ? (p.units < kWeightGradMaxChunks ? p.units : kWeightGradMaxChunks)
                             : 1;
  if (chunks > 1) {
    p.tasks = p.kh_n * p.j_blocks * p.co_blocks;
    const int64_t stride = weight_floats + p.cout;
    float* partials = workspace_floats(static_cast<size_t>((chunks - 1) * stride),
                                       convtile::kSlotPartials);
    if (nt > chunks) nt = static_cast<int>(chunks);
    ParallelFailure failure;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      float* acc_w = c == 0 ? dw : partials + (c - 1) * stride;
      float* acc_b = db ? (c == 0 ? db : acc_w + weight_floats) : nullptr;
      if (c > 0) std::memset(acc_w, 0, sizeof(float) * stride);
      failure.run([&] {
        weight_grad_range(g, p, x, dz, pooled, acc_w, acc_b, p.units * c / chunks,
                          p.units * (c + 1) / chunks, 0, p.tasks);
      });
    }
    failure.rethrow();
    for (int64_t c = 1; c < chunks; ++c) {  // in chunk order: fixed bits
      const float* pw = partials + (c - 1) * stride;
      for (int64_t i = 0; i < weight_floats; ++i) dw[i] += pw[i];
      if (db)
        for (int64_t o = 0; o < p.cout; ++o) db[o] += pw[weight_floats + o];
    }
    return;
  }
  // Fewer tasks than twice the threads leave one idle at the end: finer
  // blocks. Each dw element stays one task's running sum, so the bits do not
  // change.
  while (p.kh_n * p.j_blocks * p.co_blocks < 2 * nt && p.j_blocks < p.rows_j) ++p.j_blocks;
  p.tasks = p.kh_n * p.j_blocks * p.co_blocks;
  if (nt > p.tasks) nt = static_cast<int>(p.tasks);
  ParallelFailure failure;
#pragma omp parallel num_threads(nt)
  {
    // Each thread owns a fixed contiguous range of dw tasks.
    const int64_t team = nt > 1 ? omp_get_num_threads() : 1;
    const int64_t me = nt > 1 ? omp_get_thread_num() : 0;
    failure.run([&] {
      weight_grad_range(g, p, x, dz, pooled, dw, db, 0, p.units, p.tasks * me / team,
                        p.tasks * (me + 1) / team);
    });
  }
  failure.rethrow();
}

}  // namespace convdirect
}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
