// How many OpenMP threads a piece of work deserves.
#pragma once
#include <atomic>
#include <cstdint>
#include <new>

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

// An exception must not leave an OpenMP region (std::terminate would take the
// interpreter down): each iteration's body runs through run(), which records
// a std::bad_alloc (scratch that could not grow); after the region,
// rethrow() raises it on the calling thread, where the binding turns it into
// MemoryError. Only for regions without barriers inside the body.
class ParallelFailure {
 public:
  template <class Body>
  void run(Body&& body) noexcept {
    try {
      body();
    } catch (const std::bad_alloc&) {
      failed_ = true;
    }
  }
  void rethrow() const {
    if (failed_) throw std::bad_alloc();
  }
  // For regions with barriers: read after a barrier, every thread sees the same.
  bool failed() const { return failed_; }

 private:
  std::atomic<bool> failed_{false};
};

}  // namespace pycnn
