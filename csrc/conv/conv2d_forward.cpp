// Convolution forward: im2col per tile of output rows, then one sgemm per
// tile with the bias + activation fused in its epilogue. On AVX-512 every
// conv but the pointwise one runs the direct kernel (conv_direct_avx512.hpp),
// which can take its weights pre-packed (conv2d_pack_weights); the other
// paths have an empty packing and read the kernel itself.
#include "conv/conv.hpp"
#include "conv/im2col.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "gemm/gemm.hpp"
#if defined(PYCNN_ISA_avx512)
#include "conv/conv_direct_avx512.hpp"
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {

void conv2d_packed_floats(int64_t kh, int64_t kw, int64_t cin, int64_t cout, int64_t* floats) {
#if defined(PYCNN_ISA_avx512)
  *floats = convdirect::packed_floats(kh, kw, cin, cout);
#else
  (void)kh, (void)kw, (void)cin, (void)cout;
  *floats = 0;
#endif
}

void conv2d_pack_weights(int64_t kh, int64_t kw, int64_t cin, int64_t cout, const float* kernel,
                         float* packed) {
#if defined(PYCNN_ISA_avx512)
  const int nt = threads_for_work(static_cast<double>(kh * kw * cin * cout) * 8.0);
  convdirect::pack_forward_weights(kh, kw, cin, cout, kernel, false, packed, nt);
#else
  (void)kh, (void)kw, (void)cin, (void)cout, (void)kernel, (void)packed;
#endif
}

void conv2d_forward_packed(const ConvGeometry& g, const float* x, const float* kernel,
                           const float* packed, const Epilogue* epilogue, float* y,
                           bool accumulate) {
  const float beta = accumulate ? 1.0f : 0.0f;  // the residual already in y
  using namespace convtile;
  const int64_t patch = patch_size(g), cout = g.out_c;
  const int64_t out_pixels = g.batch * g.out_h * g.out_w;
  if (out_pixels == 0 || cout == 0) return;
  const int nt = threads_for_work(2.0 * out_pixels * patch * cout);

  if (is_pointwise(g)) {  // x already is the im2col matrix
    sgemm(false, false, out_pixels, cout, patch, 1.0f, x, patch, kernel, cout, beta, y, cout,
          epilogue, nt);
    return;
  }
#if defined(PYCNN_ISA_avx512)
  convdirect::forward(g, x, kernel, false, packed, epilogue, y, accumulate);
  return;
#else
  (void)packed;
#endif
  const int64_t tiles = g.batch * tiles_per_sample(g);
  const int64_t tile_floats = rows_per_tile(g) * g.out_w * patch;
  // Enough tiles: one thread per tile, serial sgemm; else let sgemm thread.
  const int outer = tiles >= nt ? nt : 1;
  const int inner = outer == 1 ? nt : 1;
#pragma omp parallel for num_threads(outer) schedule(static)
  for (int64_t index = 0; index < tiles; ++index) {
    const Tile t = tile_at(g, index);
    float* col = workspace_floats(static_cast<size_t>(tile_floats), kSlotCol);
    im2col(g, x + t.sample * g.in_h * g.in_w * g.in_c, t.row0, t.rows, col);
    float* y_tile = y + ((t.sample * g.out_h + t.row0) * g.out_w) * cout;
    sgemm(false, false, t.rows * g.out_w, cout, patch, 1.0f, col, patch, kernel, cout, beta,
          y_tile, cout, epilogue, inner);
  }
}

void conv2d_forward(const ConvGeometry& g, const float* x, const float* kernel,
                    const Epilogue* epilogue, float* y) {
  conv2d_forward_packed(g, x, kernel, nullptr, epilogue, y, false);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
