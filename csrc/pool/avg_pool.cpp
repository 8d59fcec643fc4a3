// Average pooling over the in-bounds values of each window, and its adjoint.
#include <cstring>

#include "core/threading.hpp"
#include "pool/pool.hpp"
#include "pool/pool_window.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

void avg_pool2d_forward(const PoolGeometry& g, const float* x, float* y) {
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
      float* out = y + (row * g.out_w + ox) * c_count;
      std::memset(out, 0, sizeof(float) * c_count);
      for (int64_t iy = ry.begin; iy < ry.end; ++iy)
        for (int64_t ix = rx.begin; ix < rx.end; ++ix) {
          const float* v = xs + (iy * g.in_w + ix) * c_count;
          for (int64_t c = 0; c < c_count; ++c) out[c] += v[c];
        }
      const float inv = 1.0f / static_cast<float>((ry.end - ry.begin) * (rx.end - rx.begin));
      for (int64_t c = 0; c < c_count; ++c) out[c] *= inv;
    }
  }
}

void avg_pool2d_backward(const PoolGeometry& g, const float* dy, float* dx) {
  const int64_t c_count = g.channels;
  const int64_t rows = g.batch * g.in_h;
  const int nt = threads_for_work(1.0 * g.batch * g.out_h * g.out_w * c_count * g.pool_h * g.pool_w);
  // Gather: each input pixel sums the windows holding it, so rows of dx are
  // independent and the order of the sum is fixed.
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / g.in_h, iy = row % g.in_h;
    const float* dys = dy + n * g.out_h * g.out_w * c_count;
    const poolwin::Range oys = poolwin::windows_holding(iy, g.stride_h, g.pad_top, g.pool_h, g.out_h);
    for (int64_t ix = 0; ix < g.in_w; ++ix) {
      const poolwin::Range oxs = poolwin::windows_holding(ix, g.stride_w, g.pad_left, g.pool_w, g.out_w);
      float* out = dx + (row * g.in_w + ix) * c_count;
      std::memset(out, 0, sizeof(float) * c_count);
      for (int64_t oy = oys.begin; oy < oys.end; ++oy) {
        const poolwin::Range ry = poolwin::window(oy, g.stride_h, g.pad_top, g.pool_h, g.in_h);
        for (int64_t ox = oxs.begin; ox < oxs.end; ++ox) {
          const poolwin::Range rx = poolwin::window(ox, g.stride_w, g.pad_left, g.pool_w, g.in_w);
          const float inv = 1.0f / static_cast<float>((ry.end - ry.begin) * (rx.end - rx.begin));
          const float* d = dys + (oy * g.out_w + ox) * c_count;
          for (int64_t c = 0; c < c_count; ++c) out[c] += d[c] * inv;
        }
      }
    }
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
