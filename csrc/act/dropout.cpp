// Inverted Dropout from a counter-based hash: the mask of element i depends
// only on (seed, i), so it is the same with any thread count and can be
// reproduced in NumPy (pycnn/reference/act.py).
#include <algorithm>

#include "act/act.hpp"
#include "core/threading.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

namespace {
constexpr int64_t kChunk = 8192;

// splitmix64 finaliser of seed + (i + 1) * golden ratio; top 32 bits.
inline uint32_t hash_u32(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<uint32_t>(z >> 32);
}
}  // namespace

void dropout_forward(const float* x, float* y, float* mask, int64_t n, uint64_t seed,
                     uint32_t keep_threshold, float scale) {
  if (n <= 0) return;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const int nt = threads_for_work(10.0 * static_cast<double>(n));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, end = std::min(n, begin + kChunk);
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float m = hash_u32(seed, static_cast<uint64_t>(i)) >= keep_threshold ? scale : 0.0f;
      mask[i] = m;
      y[i] = x[i] * m;
    }
  }
}

void multiply(const float* a, const float* b, float* out, int64_t n) {
  if (n <= 0) return;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const int nt = threads_for_work(static_cast<double>(n));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, end = std::min(n, begin + kChunk);
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) out[i] = a[i] * b[i];
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
