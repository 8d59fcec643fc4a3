// Convolution backward: the weight/bias gradients (col^T x dz summed over
// fixed chunks of tiles, then the chunks added in order, so results do not
// depend on the thread count).
// The input gradient is conv_transpose2d_forward (conv_transpose2d.cpp).
#include <cstring>

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

using namespace convtile;

// How many partial sums the weight gradient is split into: from the
// geometry only (never the thread count), capped to bound the memory.
static int64_t weight_grad_chunks(int64_t tiles, int64_t weight_floats) {
  constexpr int64_t kMaxChunks = 8;
  constexpr int64_t kMaxPartialFloats = 16 * 1024 * 1024;
  int64_t chunks = tiles < kMaxChunks ? tiles : kMaxChunks;
  while (chunks > 1 && chunks * weight_floats > kMaxPartialFloats) --chunks;
  return chunks < 1 ? 1 : chunks;
}

void conv2d_backward_weights(const ConvGeometry& g, const float* x, const float* dz, float* dw,
                             float* db) {
#if defined(PYCNN_ISA_avx512)
  if (!is_pointwise(g)) {  // direct kernel: no col buffer, no partial sums
    convdirect::weight_grad(g, x, dz, dw, db);
    return;
  }
#endif
  const int64_t patch = patch_size(g), cout = g.out_c;
  const int64_t weight_floats = patch * cout;
  const int64_t in_floats = g.in_h * g.in_w * g.in_c;
  const int64_t tiles = g.batch * tiles_per_sample(g);
  const int64_t chunks = weight_grad_chunks(tiles, weight_floats);
  const bool pointwise = is_pointwise(g);
  const int64_t tile_floats = rows_per_tile(g) * g.out_w * patch;

  // Chunk 0 accumulates straight into dw/db, the others into scratch.
  float* partials = workspace_floats(static_cast<size_t>((chunks - 1) * (weight_floats + cout) + 1),
                                     kSlotPartials);
  const int nt = threads_for_work(2.0 * g.batch * g.out_h * g.out_w * patch * cout);
  const int outer = chunks >= nt ? nt : static_cast<int>(chunks);
  const int inner = outer == 1 ? nt : 1;
  ParallelFailure failure;
#pragma omp parallel for num_threads(outer) schedule(static)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    failure.run([&] {
      float* acc_w = chunk == 0 ? dw : partials + (chunk - 1) * (weight_floats + cout);
      float* acc_b = chunk == 0 ? db : acc_w + weight_floats;
      std::memset(acc_w, 0, sizeof(float) * weight_floats);
      if (acc_b) std::memset(acc_b, 0, sizeof(float) * cout);
      const int64_t first = tiles * chunk / chunks, last = tiles * (chunk + 1) / chunks;
      for (int64_t index = first; index < last; ++index) {
        const Tile t = tile_at(g, index);
        const int64_t m = t.rows * g.out_w;
        const float* dz_tile = dz + ((t.sample * g.out_h + t.row0) * g.out_w) * cout;
        const float* col;
        if (pointwise) {
          col = x + t.sample * in_floats + t.row0 * g.in_w * g.in_c;
        } else {
          float* buf = workspace_floats(static_cast<size_t>(tile_floats), kSlotCol);
          im2col(g, x + t.sample * in_floats, t.row0, t.rows, buf);
          col = buf;
        }
        sgemm(true, false, patch, cout, m, 1.0f, col, patch, dz_tile, cout, 1.0f, acc_w, cout,
              nullptr, inner);
        if (acc_b)
          for (int64_t r = 0; r < m; ++r)
            for (int64_t o = 0; o < cout; ++o) acc_b[o] += dz_tile[r * cout + o];
      }
    });
  }
  failure.rethrow();
  // Fixed-order sum of the chunk partials.
  for (int64_t chunk = 1; chunk < chunks; ++chunk) {
    const float* pw = partials + (chunk - 1) * (weight_floats + cout);
    for (int64_t i = 0; i < weight_floats; ++i) dw[i] += pw[i];
    if (db)
      for (int64_t o = 0; o < cout; ++o) db[o] += pw[weight_floats + o];
  }
}

void conv2d_backward_weights_maxpool(const ConvGeometry& g, const float* x,
                                     const MaxPoolGrad& pooled, float* dw, float* db) {
  const PoolGeometry& pg = *pooled.pool;
#if defined(PYCNN_ISA_avx512)
  if (!is_pointwise(g) && pg.stride_h == pg.pool_h && pg.stride_w == pg.pool_w) {
    convdirect::weight_grad(g, x, nullptr, dw, db, &pooled);
    return;
  }
#endif
  // Other paths: the whole dz first (in the calling thread's workspace).
  float* dz = workspace_floats(static_cast<size_t>(g.batch * g.out_h * g.out_w * g.out_c),
                               kSlotPooledDz);
  max_pool2d_backward(pg, pooled.dy, pooled.argmax, pooled.relu_y, dz);
  conv2d_backward_weights(g, x, dz, dw, db);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
