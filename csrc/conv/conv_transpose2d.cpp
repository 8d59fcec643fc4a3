// Transposed convolution forward = the input gradient of a convolution:
// per tile of rows, x_tile x kernel^T (one sgemm) then col2im into y, and
// the bias + activation applied to each sample once its col2im is done.
// conv2d_backward_input is this kernel without an epilogue.
#include <cstring>

#include "conv/conv.hpp"
#include "conv/im2col.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "gemm/epilogue_scalar.hpp"
#include "gemm/gemm.hpp"
#if defined(PYCNN_ISA_avx512)
#include "conv/conv_direct_avx512.hpp"
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {

using namespace convtile;

// kernel (patch x cout) -> kernel^T (cout x patch), so the tile GEMMs read
// a plain row-major operand (sgemm would otherwise repack it per tile).
static const float* transposed_kernel(const float* kernel, int64_t patch, int64_t cout) {
  float* kt = workspace_floats(static_cast<size_t>(patch * cout), kSlotKernelT);
  for (int64_t p = 0; p < patch; ++p)
    for (int64_t o = 0; o < cout; ++o) kt[o * patch + p] = kernel[p * cout + o];
  return kt;
}

static bool has_work(const Epilogue* ep) {
  return ep && (ep->bias || (ep->act != Act::linear && ep->act != Act::softmax));
}

void conv_transpose2d_forward(const ConvGeometry& g, const float* x, const float* kernel,
                              const Epilogue* epilogue, float* y) {
  const int64_t patch = patch_size(g), cout = g.out_c;
  const int64_t y_pixels = g.in_h * g.in_w, y_floats = y_pixels * g.in_c;
  const int64_t x_pixels = g.batch * g.out_h * g.out_w;
  if (g.batch * y_floats == 0) return;
  const int nt = threads_for_work(2.0 * x_pixels * patch * cout);
  const float* kernel_t = transposed_kernel(kernel, patch, cout);

  if (is_pointwise(g)) {  // y is the col matrix itself: one GEMM, epilogue fused
    sgemm(false, false, x_pixels, patch, cout, 1.0f, x, cout, kernel_t, patch, 0.0f, y, patch,
          has_work(epilogue) ? epilogue : nullptr, nt);
    return;
  }
  std::memset(y, 0, sizeof(float) * g.batch * y_floats);
  // Tiles of one sample overlap in y, so a sample belongs to one thread.
  const int outer = g.batch >= nt ? nt : 1;
  const int inner = outer == 1 ? nt : 1;
  const int64_t per_sample = tiles_per_sample(g);
  const int64_t tile_floats = rows_per_tile(g) * g.out_w * patch;
  ParallelFailure failure;
#pragma omp parallel for num_threads(outer) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n) {
    failure.run([&] {
      float* col = workspace_floats(static_cast<size_t>(tile_floats), kSlotCol);
      float* y_sample = y + n * y_floats;
      for (int64_t k = 0; k < per_sample; ++k) {
        const Tile t = tile_at(g, n * per_sample + k);
        const float* x_tile = x + ((n * g.out_h + t.row0) * g.out_w) * cout;
        sgemm(false, false, t.rows * g.out_w, patch, cout, 1.0f, x_tile, cout, kernel_t, patch,
              0.0f, col, patch, nullptr, inner);
        col2im_add(g, col, t.row0, t.rows, y_sample);
      }
      if (has_work(epilogue))
        for (int64_t p = 0; p < y_pixels; ++p)
          gemm_detail::epilogue_row(y_sample + p * g.in_c, g.in_c, epilogue);
    });
  }
  failure.rethrow();
}

void conv2d_backward_input(const ConvGeometry& g, const float* kernel, const float* dz,
                           float* dx) {
#if defined(PYCNN_ISA_avx512)
  // Stride 1: dx is the conv of dz with the flipped, channel-swapped kernel
  // and the complementary padding, so the direct forward kernel runs it.
  if (g.stride_h == 1 && g.stride_w == 1 && !is_pointwise(g)) {
    ConvGeometry t = g;
    t.in_h = g.out_h;
    t.in_w = g.out_w;
    t.in_c = g.out_c;
    t.out_h = g.in_h;
    t.out_w = g.in_w;
    t.out_c = g.in_c;
    t.pad_top = (g.kernel_h - 1) * g.dilation_h - g.pad_top;
    t.pad_left = (g.kernel_w - 1) * g.dilation_w - g.pad_left;
    convdirect::forward(t, dz, kernel, true, nullptr, nullptr, dx);
    return;
  }
#endif
  conv_transpose2d_forward(g, dz, kernel, nullptr, dx);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
