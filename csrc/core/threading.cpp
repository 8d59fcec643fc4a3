#include "core/threading.hpp"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace pycnn {
namespace {

// OpenMP's thread count is per thread (omp_set_num_threads only changes the
// caller's ICV). pycnn.set_num_threads must reach every thread, so it bumps a
// generation; each thread re-applies the user's value once when it sees a
// new generation, and otherwise leaves its ICV alone (threadpoolctl's limits
// stay in force).
std::atomic<int> g_user_threads{0};
std::atomic<unsigned> g_generation{0};
thread_local unsigned t_seen_generation = 0;

// Set once this thread started a team of > 1 threads. libgomp keeps that
// team's pool for reuse; after fork() the pool's threads do not exist in the
// child and its next parallel region waits for them forever.
thread_local bool t_ran_parallel = false;
bool g_forked_single = false;

void sync_with_user_setting() {
  const unsigned gen = g_generation.load(std::memory_order_acquire);
  if (gen != t_seen_generation) {
    t_seen_generation = gen;
    if (int n = g_user_threads.load(std::memory_order_relaxed); n > 0) omp_set_num_threads(n);
  }
}

void after_fork_in_child() {
  if (t_ran_parallel) g_forked_single = true;
}

}  // namespace

int max_threads() {
  if (g_forked_single) return 1;
  sync_with_user_setting();
  return std::max(1, omp_get_max_threads());
}

void set_max_threads(int n) {
  n = std::max(1, n);
  g_user_threads.store(n, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  sync_with_user_setting();
}

int threads_for_work(double flops) {
  if (omp_in_parallel() || !(flops > 0)) return 1;
  // ~0.2 MFLOP per thread keeps the fork/join cost (a few us) under ~5%.
  constexpr double kFlopsPerThread = 2.0e5;
  int want = static_cast<int>(std::min(flops / kFlopsPerThread, 1.0e6));
  int nt = std::clamp(want, 1, max_threads());
  if (nt > 1) t_ran_parallel = true;
  return nt;
}

bool in_parallel_region() { return omp_in_parallel() != 0; }

bool forked_single_threaded() { return g_forked_single; }

void install_fork_handler() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, &after_fork_in_child); });
}

}  // namespace pycnn
