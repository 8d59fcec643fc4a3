// How many OpenMP threads a piece of work deserves.
#pragma once
#include <cstdint>

namespace pycnn {

// Threads the user allows (pycnn.set_num_threads / OMP_NUM_THREADS).
int max_threads();
void set_max_threads(int n);

// Threads worth using for `flops` floating-point operations: one thread for
// tiny layers (a parallel region costs a few microseconds), all for big ones.
int threads_for_work(double flops);

// Whether we are already inside a parallel region (nested regions run serial).
bool in_parallel_region();

}  // namespace pycnn
