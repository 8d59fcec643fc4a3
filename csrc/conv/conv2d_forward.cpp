// Convolution forward: im2col per tile of output rows, then one sgemm per
// tile with the bias + activation fused in its epilogue. On AVX-512 every
// conv but the 1x1 ones (one GEMM) runs the direct kernel
// (conv_direct_avx512.hpp). Weights may come pre-packed (conv2d_pack_weights):
// 1x1 kernels in the GEMM's layout on every ISA, others in the direct
// kernel's (AVX-512; the other ISAs read the kernel itself).
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

// A 1x1 kernel is a (cin x cout) matrix that every path multiplies with
// the GEMM (pointwise, or strided after a gather), so it is packed in the
// GEMM's layout on every ISA; larger kernels in the direct conv's (AVX-512)
// or not at all (the other ISAs read the kernel).
static bool packs_as_gemm(int64_t kh, int64_t kw) { return kh == 1 && kw == 1; }

void conv2d_packed_floats(int64_t kh, int64_t kw, int64_t cin, int64_t cout, int64_t* floats) {
  if (packs_as_gemm(kh, kw)) {
    int64_t kc = 0;
    sgemm_packed_b_layout(cin, cout, &kc, floats);
    return;
  }
#if defined(PYCNN_ISA_avx512)
  *floats = convdirect::packed_floats(kh, kw, cin, cout);
#else
  *floats = 0;
#endif
}

void conv2d_pack_weights(int64_t kh, int64_t kw, int64_t cin, int64_t cout, const float* kernel,
                         float* packed) {
  if (packs_as_gemm(kh, kw)) {
    sgemm_pack_b(false, cin, cout, kernel, cout, packed, 0);
    return;
  }
#if defined(PYCNN_ISA_avx512)
  const int nt = threads_for_work(static_cast<double>(kh * kw * cin * cout) * 8.0);
  convdirect::pack_forward_weights(kh, kw, cin, cout, kernel, false, packed, nt);
#else
  (void)kernel, (void)packed;
#endif
}

// y (+)= act(a (rows x patch) x kernel + bias), from the GEMM-packed kernel when given.
static void pointwise_gemm(const ConvGeometry& g, const float* a, int64_t rows,
                           const float* kernel, const float* gemm_packed,
                           const Epilogue* epilogue, float* y, float beta, int nt) {
  const int64_t patch = g.in_c, cout = g.out_c;
  if (gemm_packed)
    sgemm_prepacked_b(false, rows, cout, patch, 1.0f, a, patch, gemm_packed, beta, y, cout,
                      epilogue, nt);
  else
    sgemm(false, false, rows, cout, patch, 1.0f, a, patch, kernel, cout, beta, y, cout,
          epilogue, nt);
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

  const bool gemm_layout = packs_as_gemm(g.kernel_h, g.kernel_w);
  const float* gemm_packed = gemm_layout ? packed : nullptr;
  if (is_pointwise(g)) {  // x already is the im2col matrix
    pointwise_gemm(g, x, out_pixels, kernel, gemm_packed, epilogue, y, beta, nt);
    return;
  }
  if (is_strided_pointwise(g)) {
    // 1x1 stride-s, no padding (ResNet's projection shortcuts): the pixels
    // it reads, gathered into rows, are its im2col matrix; one GEMM then
    // beats the direct kernel (batch 32, 1024 -> 2048: 112 against 78 GFLOP/s).
    float* rows = workspace_floats(static_cast<size_t>(out_pixels * g.in_c), kSlotKernelT);
    gather_strided_pixels(g, x, rows, nt);
    pointwise_gemm(g, rows, out_pixels, kernel, gemm_packed, epilogue, y, beta, nt);
    return;
  }
  if (gemm_layout) packed = nullptr;  // a padded 1x1: the paths below pack their own
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
  ParallelFailure failure;
#pragma omp parallel for num_threads(outer) schedule(static)
  for (int64_t index = 0; index < tiles; ++index) {
    failure.run([&] {
      const Tile t = tile_at(g, index);
      float* col = workspace_floats(static_cast<size_t>(tile_floats), kSlotCol);
      im2col(g, x + t.sample * g.in_h * g.in_w * g.in_c, t.row0, t.rows, col);
      float* y_tile = y + ((t.sample * g.out_h + t.row0) * g.out_w) * cout;
      sgemm(false, false, t.rows * g.out_w, cout, patch, 1.0f, col, patch, kernel, cout, beta,
            y_tile, cout, epilogue, inner);
    });
  }
  failure.rethrow();
}

void conv2d_forward(const ConvGeometry& g, const float* x, const float* kernel,
                    const Epilogue* epilogue, float* y) {
  conv2d_forward_packed(g, x, kernel, nullptr, epilogue, y, false);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
