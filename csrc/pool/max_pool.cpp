// Max pooling forward (value + first argmax per window) and backward.
#include <cstring>

#include "core/threading.hpp"
#include "pool/pool.hpp"
#include "pool/pool_window.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

void max_pool2d_forward(const PoolGeometry& g, const float* x, float* y, int32_t* argmax) {
  const int64_t c_count = g.channels;
  const int64_t rows = g.batch * g.out_h;
  const int nt = threads_for_work(1.0 * rows * g.out_w * c_count * g.pool_h * g.pool_w);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / g.out_h, oy = row % g.out_h;
    const float* xs = x + n * g.in_h * g.in_w * c_count;
    const poolwin::Range ry = poolwin::window(oy, g.stride_h, g.pad_top, g.pool_h, g.in_h);
    for (int64_t ox = 0; ox < g.out_w; ++ox) {
      const poolwin::Range rx = poolwin::window(ox, g.stride_w, g.pad_left, g.pool_w, g.in_w);
      float* __restrict best = y + (row * g.out_w + ox) * c_count;
      int32_t* __restrict where = argmax + (row * g.out_w + ox) * c_count;
      // Start from the first in-bounds value; a later value wins only when
      // strictly larger, so ties go to the first in window order.
      const int32_t first = static_cast<int32_t>(ry.begin * g.in_w + rx.begin);
      std::memcpy(best, xs + first * c_count, sizeof(float) * c_count);
#pragma omp simd
      for (int64_t c = 0; c < c_count; ++c) where[c] = first;
      for (int64_t iy = ry.begin; iy < ry.end; ++iy) {
        for (int64_t ix = rx.begin; ix < rx.end; ++ix) {
          const int32_t pos = static_cast<int32_t>(iy * g.in_w + ix);
          const float* __restrict v = xs + pos * c_count;
#pragma omp simd
          for (int64_t c = 0; c < c_count; ++c) {
            const bool larger = v[c] > best[c];
            best[c] = larger ? v[c] : best[c];
            where[c] = larger ? pos : where[c];
          }
        }
      }
    }
  }
}

// dx[argmax] += dy per sample in window order; samples in parallel. Used
// when the caller gives no window geometry (pool_h == 0).
static void max_pool2d_backward_scatter(const PoolGeometry& g, const float* dy,
                                        const int32_t* argmax, float* dx) {
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
    for (int64_t p = 0; p < g.out_h * g.out_w; ++p)
      for (int64_t c = 0; c < c_count; ++c)
        dxs[am[p * c_count + c] * c_count + c] += dys[p * c_count + c];
  }
}

void max_pool2d_backward(const PoolGeometry& g, const float* dy, const int32_t* argmax,
                         float* dx) {
  const int64_t c_count = g.channels;
  if (g.pool_h < 1 || g.pool_w < 1) {  // window geometry unknown: scatter
    max_pool2d_backward_scatter(g, dy, argmax, dx);
    return;
  }
  const int64_t rows = g.batch * g.in_h;
  const int64_t out_floats = g.out_h * g.out_w * c_count;
  const int nt = threads_for_work(4.0 * g.batch * (g.in_h * g.in_w * c_count + out_floats));
  // Gather instead of scatter: each input pixel sums, over the windows
  // holding it in increasing window order, the dy of those whose argmax it
  // is. Rows of dx are independent (parallel, no races) and every sum runs
  // in the order of the serial scatter, so results are bit-identical to it.
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / g.in_h, iy = row % g.in_h;
    const float* dys = dy + n * out_floats;
    const int32_t* ams = argmax + n * out_floats;
    const poolwin::Range oys =
        poolwin::windows_holding(iy, g.stride_h, g.pad_top, g.pool_h, g.out_h);
    for (int64_t ix = 0; ix < g.in_w; ++ix) {
      const poolwin::Range oxs =
          poolwin::windows_holding(ix, g.stride_w, g.pad_left, g.pool_w, g.out_w);
      float* __restrict out = dx + (row * g.in_w + ix) * c_count;
      const int32_t pos = static_cast<int32_t>(iy * g.in_w + ix);
#pragma omp simd
      for (int64_t c = 0; c < c_count; ++c) out[c] = 0.0f;
      for (int64_t oy = oys.begin; oy < oys.end; ++oy)
        for (int64_t ox = oxs.begin; ox < oxs.end; ++ox) {
          const float* __restrict d = dys + (oy * g.out_w + ox) * c_count;
          const int32_t* __restrict a = ams + (oy * g.out_w + ox) * c_count;
#pragma omp simd
          for (int64_t c = 0; c < c_count; ++c) out[c] += a[c] == pos ? d[c] : 0.0f;
        }
    }
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
