// How many OpenMP threads a piece of work deserves.
#pragma once
#include <cstdint>

namespace pycnn {

// Threads the calling thread may use: omp_get_max_threads(), so OMP_NUM_THREADS
// and threadpoolctl (omp_set_num_threads) both take effect. 1 in a process
// forked from a thread that ran a parallel region (libgomp's pool is gone).
int max_threads();

// pycnn.set_num_threads: applies to every thread, including threads that
// already exist (each picks the new value up at its next kernel call).
void set_max_threads(int n);

// Threads worth using for `flops` floating-point operations: one thread for
// tiny layers (a parallel region costs a few microseconds), all for big ones.
int threads_for_work(double flops);

// Whether we are already inside a parallel region (nested regions run serial).
bool in_parallel_region();

// True in a child forked after this thread ran a pycnn parallel region.
bool forked_single_threaded();

// Installs the fork handler (idempotent); called at module init.
void install_fork_handler();

}  // namespace pycnn
