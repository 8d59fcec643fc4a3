// im2col / col2im over a tile of output rows of one sample, and the tiling
// rules shared by the forward and backward convolution kernels.
// `static inline` on purpose: this header is compiled once per ISA.
#pragma once
#include <cstdint>
#include <cstring>

#include "conv/conv.hpp"

namespace pycnn {
namespace convtile {

// Workspace slots of the conv kernels (sgemm owns 6 and 7, act uses 0).
constexpr int kSlotCol = 2;       // per-thread im2col / col2im tile
constexpr int kSlotKernelT = 3;   // kernel transposed, on the calling thread
constexpr int kSlotPartials = 4;  // per-chunk weight-gradient partial sums
constexpr int kSlotPooledDz = 3;  // dz rebuilt from a max pool's dy (weight gradient only)

// Length of one im2col row: one output pixel's receptive field.
static inline int64_t patch_size(const ConvGeometry& g) {
  return g.kernel_h * g.kernel_w * g.in_c;
}

// A 1x1, stride-1, unpadded conv reads x itself as the im2col matrix.
static inline bool is_pointwise(const ConvGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_h == g.in_h && g.out_w == g.in_w;
}

// A 1x1 kernel with strides and no padding: each output pixel reads one
// input pixel, (oy * stride_h, ox * stride_w).
static inline bool is_strided_pointwise(const ConvGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         (g.out_h - 1) * g.stride_h < g.in_h && (g.out_w - 1) * g.stride_w < g.in_w;
}

// rows[(n, oy, ox)] = x[n, oy * stride_h, ox * stride_w, :] (is_strided_pointwise).
static inline void gather_strided_pixels(const ConvGeometry& g, const float* x, float* rows,
                                         int nt) {
  const int64_t cin = g.in_c, out_rows = g.batch * g.out_h;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < out_rows; ++r) {
    const int64_t n = r / g.out_h, oy = r % g.out_h;
    const float* src = x + ((n * g.in_h + oy * g.stride_h) * g.in_w) * cin;
    float* dst = rows + r * g.out_w * cin;
    for (int64_t ox = 0; ox < g.out_w; ++ox)
      std::memcpy(dst + ox * cin, src + ox * g.stride_w * cin, sizeof(float) * cin);
  }
}

// Output rows per tile: about 128K floats of im2col (fits L2 with room for
// the kernel), at least one row. Depends on the geometry only, so the work
// split, and every sum over it, is the same for any thread count.
static inline int64_t rows_per_tile(const ConvGeometry& g) {
  constexpr int64_t kTileFloats = 128 * 1024;
  int64_t row_floats = g.out_w * patch_size(g);
  int64_t rows = row_floats > 0 ? kTileFloats / row_floats : g.out_h;
  if (rows < 1) rows = 1;
  return rows < g.out_h ? rows : g.out_h;
}

static inline int64_t tiles_per_sample(const ConvGeometry& g) {
  int64_t rows = rows_per_tile(g);
  return rows > 0 ? (g.out_h + rows - 1) / rows : 0;
}

// One unit of work: output rows [row0, row0 + rows) of sample n.
struct Tile {
  int64_t sample, row0, rows;
};

static inline Tile tile_at(const ConvGeometry& g, int64_t index) {
  int64_t per_sample = tiles_per_sample(g), rpt = rows_per_tile(g);
  Tile t;
  t.sample = index / per_sample;
  t.row0 = (index % per_sample) * rpt;
  t.rows = g.out_h - t.row0 < rpt ? g.out_h - t.row0 : rpt;
  return t;
}

// Rows of the im2col matrix of x_sample for output rows [row0, row0+rows):
// col[(oy - row0) * out_w + ox][(i * kw + j) * cin + c], zeros where the
// receptive field falls in the padding.
static inline void im2col(const ConvGeometry& g, const float* x_sample, int64_t row0,
                          int64_t rows, float* col) {
  const int64_t cin = g.in_c, kw = g.kernel_w, patch = patch_size(g);
  const int64_t kw_span = (kw - 1) * g.dilation_w;
  for (int64_t oy = row0; oy < row0 + rows; ++oy) {
    for (int64_t ox = 0; ox < g.out_w; ++ox) {
      float* dst = col + ((oy - row0) * g.out_w + ox) * patch;
      const int64_t ix0 = ox * g.stride_w - g.pad_left;
      // Whole kernel row inside the image and dense: one copy per kernel row.
      const bool row_dense = g.dilation_w == 1 && ix0 >= 0 && ix0 + kw_span < g.in_w;
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t iy = oy * g.stride_h - g.pad_top + i * g.dilation_h;
        float* d = dst + i * kw * cin;
        if (iy < 0 || iy >= g.in_h) {
          std::memset(d, 0, sizeof(float) * kw * cin);
          continue;
        }
        const float* src_row = x_sample + iy * g.in_w * cin;
        if (row_dense) {
          std::memcpy(d, src_row + ix0 * cin, sizeof(float) * kw * cin);
          continue;
        }
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t ix = ix0 + j * g.dilation_w;
          if (ix < 0 || ix >= g.in_w)
            std::memset(d + j * cin, 0, sizeof(float) * cin);
          else
            std::memcpy(d + j * cin, src_row + ix * cin, sizeof(float) * cin);
        }
      }
    }
  }
}

// The adjoint of im2col: adds each col entry back into dx_sample, in a
// fixed order (output pixel, then kernel position), skipping padding.
static inline void col2im_add(const ConvGeometry& g, const float* col, int64_t row0,
                              int64_t rows, float* dx_sample) {
  const int64_t cin = g.in_c, kw = g.kernel_w, patch = patch_size(g);
  for (int64_t oy = row0; oy < row0 + rows; ++oy) {
    for (int64_t ox = 0; ox < g.out_w; ++ox) {
      const float* src = col + ((oy - row0) * g.out_w + ox) * patch;
      const int64_t ix0 = ox * g.stride_w - g.pad_left;
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t iy = oy * g.stride_h - g.pad_top + i * g.dilation_h;
        if (iy < 0 || iy >= g.in_h) continue;
        float* dst_row = dx_sample + iy * g.in_w * cin;
        const float* s = src + i * kw * cin;
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t ix = ix0 + j * g.dilation_w;
          if (ix < 0 || ix >= g.in_w) continue;
          float* d = dst_row + ix * cin;
          const float* sj = s + j * cin;
          for (int64_t c = 0; c < cin; ++c) d[c] += sj[c];
        }
      }
    }
  }
}

}  // namespace convtile
}  // namespace pycnn
