// Zero padding of NHWC images (ZeroPadding2D/1D): rows are copied whole, the
// border written once; the output comes from pycnn's buffer cache, where
// NumPy's np.pad would fault in fresh pages for every large batch.
#include <cstring>

#include "core/threading.hpp"
#include "pool/pool.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

void zero_pad2d(const float* x, int64_t batch, int64_t in_h, int64_t in_w, int64_t channels,
                int64_t top, int64_t bottom, int64_t left, int64_t right, float* y) {
  const int64_t out_h = in_h + top + bottom, out_w = in_w + left + right;
  const int64_t rows = batch * out_h, row_floats = out_w * channels;
  if (rows == 0 || row_floats == 0) return;
  const int nt = threads_for_work(0.25 * static_cast<double>(rows * row_floats));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / out_h, oy = row % out_h, iy = oy - top;
    float* out = y + row * row_floats;
    if (iy < 0 || iy >= in_h) {
      std::memset(out, 0, sizeof(float) * row_floats);
      continue;
    }
    std::memset(out, 0, sizeof(float) * left * channels);
    std::memcpy(out + left * channels, x + (n * in_h + iy) * in_w * channels,
                sizeof(float) * in_w * channels);
    std::memset(out + (left + in_w) * channels, 0, sizeof(float) * right * channels);
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
