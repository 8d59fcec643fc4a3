// Convolution (+ bias + activation) followed by max pooling, without the
// full-size conv output ever reaching memory: each task convolves a band of
// conv rows into a per-thread buffer that stays in cache and pools it at
// once. The seed networks' conv -> ReLU -> MaxPool pairs otherwise write the
// largest tensor of the network and read it straight back.
#include <algorithm>

#include "conv/conv.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "pool/pool.hpp"
#if defined(PYCNN_ISA_avx512)
#include "conv/conv_direct_avx512.hpp"
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {

namespace {
constexpr int kSlotBand = 5;    // workspace slot of the band buffer (per thread)
constexpr int kSlotPacked = 1;  // the calling thread's packed kernel, read by every thread
constexpr int64_t kBandFloats = 1 << 16;   // ~256 KiB of conv output per band

// Conv rows [r0, r1) feeding pool rows [p0, p1) (clipped to the conv output).
struct Band {
  int64_t p0, p1, r0, r1;
};

Band band_at(const ConvGeometry& g, const PoolGeometry& pg, int64_t p0, int64_t p1) {
  Band b{p0, p1, 0, 0};
  b.r0 = std::max<int64_t>(0, p0 * pg.stride_h - pg.pad_top);
  b.r1 = std::min<int64_t>(g.out_h, (p1 - 1) * pg.stride_h - pg.pad_top + pg.pool_h);
  return b;
}
}  // namespace

void conv2d_maxpool_forward(const ConvGeometry& g, const PoolGeometry& pg, const float* x,
                            const float* kernel, const float* packed, const Epilogue* epilogue,
                            float* y, int32_t* argmax) {
  if (g.batch == 0 || pg.out_h == 0 || pg.out_w == 0 || g.out_c == 0) return;
  if (!packed) {  // pack once here, not once per band
    int64_t floats = 0;
    conv2d_packed_floats(g.kernel_h, g.kernel_w, g.in_c, g.out_c, &floats);
    if (floats > 0) {
      float* buf = workspace_floats(static_cast<size_t>(floats), kSlotPacked);
      conv2d_pack_weights(g.kernel_h, g.kernel_w, g.in_c, g.out_c, kernel, buf);
      packed = buf;
    }
  }
#if defined(PYCNN_ISA_avx512)
  // 2x2 windows at stride 2 after a conv of <= 4 inputs are pooled in the
  // conv tiles' registers: no band of conv output is stored and read back
  // (seed 000's first conv; see convdirect::forward_pools_2x2).
  if (!argmax && convdirect::forward_pools_2x2(g, pg, epilogue)) {
    convdirect::forward(g, x, kernel, false, packed, epilogue, y, false, &pg);
    return;
  }
#endif
  // Pool rows per band: about kBandFloats of conv output, at least one.
  const int64_t conv_row_floats = g.out_w * g.out_c;
  const int64_t rows_fit = std::max<int64_t>(1, kBandFloats / std::max<int64_t>(1, conv_row_floats));
  int64_t per_band = std::max<int64_t>(1, rows_fit / std::max<int64_t>(1, pg.stride_h));
  per_band = std::min(per_band, pg.out_h);
  const double flops = 2.0 * g.batch * g.out_h * g.out_w * g.out_c * g.kernel_h * g.kernel_w *
                       static_cast<double>(g.in_c);
  const int work_threads = threads_for_work(flops);
  if (g.batch < work_threads) {
    // Few samples: a multiple of the threads' count of bands, so no thread
    // waits on a last odd band (batch 1, 37 pool rows: 7 bands ran 4 + 3).
    const int64_t want = (pg.out_h + per_band - 1) / per_band;
    const int64_t even = (want + work_threads - 1) / work_threads * work_threads;
    per_band = std::max<int64_t>(1, (pg.out_h + even - 1) / even);
  }
  const int64_t bands = (pg.out_h + per_band - 1) / per_band;
  const int64_t tasks = g.batch * bands;
  const int nt = static_cast<int>(std::min<int64_t>(work_threads, tasks));
  const int64_t band_rows_max = std::min<int64_t>(g.out_h, (per_band - 1) * pg.stride_h + pg.pool_h);
  const int64_t in_sample = g.in_h * g.in_w * g.in_c;
  const int64_t out_sample = pg.out_h * pg.out_w * pg.channels;
  ParallelFailure failure;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    failure.run([&] {
      const int64_t n = task / bands, bi = task % bands;
      const Band b = band_at(g, pg, bi * per_band, std::min(pg.out_h, (bi + 1) * per_band));
      float* buf = workspace_floats(static_cast<size_t>(band_rows_max * conv_row_floats), kSlotBand);
      // The conv of rows [r0, r1) only: its input rows, with the padding that
      // is left above them (bottom padding follows from out_h).
      const int64_t iy0 = b.r0 * g.stride_h - g.pad_top;
      const int64_t top = std::max<int64_t>(0, iy0);
      const int64_t iy_end = std::min<int64_t>(
          g.in_h, (b.r1 - 1) * g.stride_h - g.pad_top + (g.kernel_h - 1) * g.dilation_h + 1);
      ConvGeometry cg = g;
      cg.batch = 1;
      cg.in_h = std::max<int64_t>(0, iy_end - top);
      cg.pad_top = top - iy0;
      cg.out_h = b.r1 - b.r0;
      conv2d_forward_packed(cg, x + n * in_sample + top * g.in_w * g.in_c, kernel, packed,
                            epilogue, buf, false);
      // Pool rows [p0, p1) of that band; windows start r0 rows into the conv output.
      PoolGeometry bg = pg;
      bg.batch = 1;
      bg.in_h = cg.out_h;
      bg.out_h = b.p1 - b.p0;
      bg.pad_top = b.r0 - (b.p0 * pg.stride_h - pg.pad_top);
      float* y_band = y + n * out_sample + b.p0 * pg.out_w * pg.channels;
      int32_t* a_band = argmax ? argmax + n * out_sample + b.p0 * pg.out_w * pg.channels : nullptr;
      max_pool2d_forward(bg, buf, y_band, a_band);
      if (a_band) {  // band-relative spatial index -> the conv output's
        const int32_t shift = static_cast<int32_t>(b.r0 * g.out_w);
        const int64_t count = bg.out_h * pg.out_w * pg.channels;
        for (int64_t i = 0; i < count; ++i) a_band[i] += shift;
      }
    });
  }
  failure.rethrow();
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
