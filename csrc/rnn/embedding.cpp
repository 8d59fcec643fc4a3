// Embedding lookup (a row gather) and its gradient (a scatter-add).
// Indices arrive checked (0 <= index < vocab) by the binding.
#include <algorithm>
#include <cstring>

#include "core/threading.hpp"
#include "rnn/rnn.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

void embedding_gather(int64_t count, int64_t dim, const int64_t* index, const float* table,
                      float* out) {
  const int nt = threads_for_work(static_cast<double>(count) * dim);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t n = 0; n < count; ++n)
    std::memcpy(out + n * dim, table + index[n] * dim, sizeof(float) * dim);
}

void embedding_scatter_add(int64_t count, int64_t dim, const int64_t* index, const float* dy,
                           float* dtable) {
  // Threads own column chunks and add the rows in order of n, so repeated
  // indices sum in the same order whatever the thread count.
  constexpr int64_t kChunk = 64;
  const int64_t chunks = (dim + kChunk - 1) / kChunk;
  const int nt = std::min<int64_t>(threads_for_work(static_cast<double>(count) * dim), chunks);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t c0 = ch * kChunk, width = std::min(dim, c0 + kChunk) - c0;
    for (int64_t n = 0; n < count; ++n) {
      float* dst = dtable + index[n] * dim + c0;
      const float* src = dy + n * dim + c0;
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) dst[j] += src[j];
    }
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
