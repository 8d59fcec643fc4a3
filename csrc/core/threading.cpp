#include "core/threading.hpp"

#include <omp.h>

#include <algorithm>

namespace pycnn {

int max_threads() { return std::max(1, omp_get_max_threads()); }

void set_max_threads(int n) { omp_set_num_threads(std::max(1, n)); }

int threads_for_work(double flops) {
  if (omp_in_parallel()) return 1;
  // ~0.2 MFLOP per thread keeps the fork/join cost (a few us) under ~5%.
  constexpr double kFlopsPerThread = 2.0e5;
  int want = static_cast<int>(flops / kFlopsPerThread);
  return std::clamp(want, 1, max_threads());
}

bool in_parallel_region() { return omp_in_parallel() != 0; }

}  // namespace pycnn
